-- authd schema version 8: a WebAuthn credential's row holds the status of its credential record
-- too, kept equal to it by the triggers below whichever process writes, so that a login's
-- verification finds the key and whether it is in service in one row instead of searching the
-- credential records as well (a search through cold pages when there are many users). NULL: the
-- credential has no record in credentials (authd's store never leaves one so), or its row is one
-- of those this upgrade found and has not filled yet: reads then take the status from the
-- credential record. The rows there are at this upgrade are filled after it, a few hundred per
-- write transaction while authd serves, from rowid 0 on, the progress kept in meta
-- ('webauthn_status_fill', deleted when done), so that upgrading a database of millions of keys
-- does not hold up the start for every row to be rewritten.
ALTER TABLE webauthn_credentials ADD COLUMN status TEXT;
INSERT INTO meta (key, value) SELECT 'webauthn_status_fill', '0' WHERE EXISTS (SELECT 1 FROM webauthn_credentials);
CREATE TRIGGER webauthn_status_on_credential_insert AFTER INSERT ON credentials
BEGIN
  UPDATE webauthn_credentials SET status = NEW.status WHERE id = NEW.id;
END;
CREATE TRIGGER webauthn_status_on_credential_update AFTER UPDATE OF status ON credentials
BEGIN
  UPDATE webauthn_credentials SET status = NEW.status WHERE id = NEW.id;
END;
CREATE TRIGGER webauthn_status_on_insert AFTER INSERT ON webauthn_credentials
BEGIN
  UPDATE webauthn_credentials SET status = (SELECT c.status FROM credentials c WHERE c.id = NEW.id)
  WHERE raw_id = NEW.raw_id;
END;
