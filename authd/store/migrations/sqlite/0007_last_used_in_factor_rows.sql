-- authd schema version 7: when a credential was last used is written into the row of its
-- factor's table, which every successful verification updates anyway (the signature counter, the
-- TOTP step, the YubiKey counters), instead of into its credentials row, a second random page
-- written per verification. credentials.last_used_at stays: it holds the times from before this
-- version and those of YubiKeys whose factor row was freed for a new registration; a credential's
-- last use is the later of the two.
ALTER TABLE webauthn_credentials ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE totp_credentials ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE yubiotp_credentials ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
