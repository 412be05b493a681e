-- authd schema version 5: the records a login writes are keyed so that concurrent logins append
-- to the same last pages of each table instead of touching a random page of each index, which
-- cuts the pages (and the WAL bytes) written per login by more than half.
--
-- Tokens: keyed by jti, which is time-ordered for new tokens (NewJti). Introspection reads the
-- jti from the token and compares the stored SHA-256 with the presented token's, so the
-- token_hash index goes; expired rows are found by jti order, so the expiry index goes; one
-- index on the owner serves revocation by user and by credential. Tokens issued before this
-- version have random 22-character jtis; their key is the jti behind ten zeros (time zero), so
-- they sort before every new token and leave with the first purges after they expire.
CREATE TABLE tokens_v5 (
  jti TEXT PRIMARY KEY,
  token_hash BLOB NOT NULL,             -- SHA-256 of the compact JWS, compared in constant time
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  credential_id TEXT NOT NULL DEFAULT '',
  audience TEXT NOT NULL,
  client_id TEXT NOT NULL DEFAULT '',
  amr TEXT NOT NULL,
  roles TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  auth_time INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO tokens_v5 SELECT '0000000000' || jti, token_hash, user_id, username, credential_id, audience, client_id, amr, roles,
                             issued_at, expires_at, auth_time, revoked_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v5 RENAME TO tokens;
CREATE INDEX tokens_owner ON tokens(user_id, credential_id) WHERE revoked_at = 0;

-- Used ceremony ids: keyed by expiry first (the handle carries it), so inserts append and the
-- purge is a range delete on the key; the separate expiry index goes.
CREATE TABLE used_ceremonies_v5 (
  expires_at INTEGER NOT NULL,
  id BLOB NOT NULL,                     -- the random id sealed inside the handle
  PRIMARY KEY (expires_at, id)
) WITHOUT ROWID;
INSERT INTO used_ceremonies_v5 SELECT expires_at, id FROM used_ceremonies;
DROP TABLE used_ceremonies;
ALTER TABLE used_ceremonies_v5 RENAME TO used_ceremonies;
