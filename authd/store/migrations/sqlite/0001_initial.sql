-- authd schema version 1: users, credentials, enrolment codes, API clients, signing keys,
-- token records and the chained audit log.
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  status TEXT NOT NULL,
  roles TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE credentials (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  type TEXT NOT NULL,
  nickname TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  info TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX credentials_user ON credentials(user_id);

CREATE TABLE enrollment_codes (
  code_hash BLOB PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  consumed_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE clients (
  client_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_hash BLOB NOT NULL,
  ykval_id INTEGER NOT NULL UNIQUE,
  ykval_key_sealed BLOB NOT NULL,
  scopes TEXT NOT NULL,
  allowed_ips TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  private_sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
  jti TEXT PRIMARY KEY,
  token_hash BLOB NOT NULL UNIQUE,
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
);
CREATE INDEX tokens_user ON tokens(user_id) WHERE revoked_at = 0;
CREATE INDEX tokens_credential ON tokens(credential_id) WHERE revoked_at = 0;
CREATE INDEX tokens_expiry ON tokens(expires_at);

CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  source TEXT NOT NULL,
  request_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL
);
CREATE INDEX audit_time ON audit(at_ms);
