-- authd schema version 3: TOTP and YubiKey OTP credentials, pending TOTP enrolments and the
-- persisted failure counters behind lockout (SECURITY.md P8).
CREATE TABLE totp_credentials (
  id TEXT PRIMARY KEY,                  -- also credentials.id
  user_id TEXT NOT NULL REFERENCES users(id),
  secret_sealed BLOB NOT NULL,          -- AES-GCM under the master key, bound to id
  algorithm TEXT NOT NULL,              -- SHA1 | SHA256 | SHA512
  digits INTEGER NOT NULL,
  period INTEGER NOT NULL,
  last_step INTEGER NOT NULL DEFAULT -1 -- the last accepted time step: only later ones pass
);
CREATE INDEX totp_credentials_user ON totp_credentials(user_id);

CREATE TABLE totp_enrollments (
  id_hash BLOB PRIMARY KEY,             -- SHA-256 of the handle given to the client
  credential_id TEXT NOT NULL,          -- the id the credential gets when confirmed
  user_id TEXT NOT NULL REFERENCES users(id),
  secret_sealed BLOB NOT NULL,
  algorithm TEXT NOT NULL,
  digits INTEGER NOT NULL,
  period INTEGER NOT NULL,
  actor TEXT NOT NULL,
  enrollment_code_hash BLOB,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX totp_enrollments_expiry ON totp_enrollments(expires_at);

CREATE TABLE yubiotp_credentials (
  public_id TEXT PRIMARY KEY,           -- modhex, as the key types it
  id TEXT NOT NULL UNIQUE,              -- also credentials.id
  user_id TEXT NOT NULL REFERENCES users(id),
  secret_sealed BLOB NOT NULL,          -- AES key (16) || private id (6), sealed, bound to public_id
  use_counter INTEGER NOT NULL DEFAULT -1,
  session_counter INTEGER NOT NULL DEFAULT -1,
  last_nonce TEXT NOT NULL DEFAULT '',  -- of the last accepted ykval request
  last_otp TEXT NOT NULL DEFAULT ''
);
CREATE INDEX yubiotp_credentials_user ON yubiotp_credentials(user_id);

CREATE TABLE failure_counters (
  subject TEXT PRIMARY KEY,             -- user:<id> or credential:<id>
  user_id TEXT NOT NULL,
  failures INTEGER NOT NULL,            -- consecutive failures since the last success or unlock
  last_failure_at INTEGER NOT NULL,
  locked_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX failure_counters_user ON failure_counters(user_id);
