-- authd schema version 2: WebAuthn ceremonies (single-use, expiring) and credential records.
CREATE TABLE ceremonies (
  id_hash BLOB PRIMARY KEY,             -- SHA-256 of the opaque handle given to the client
  kind TEXT NOT NULL,                   -- registration | authentication
  user_id TEXT NOT NULL DEFAULT '',     -- '' for usernameless authentication
  challenge BLOB NOT NULL,
  client_id TEXT NOT NULL DEFAULT '',
  user_verification TEXT NOT NULL,
  enrollment_code_hash BLOB,            -- registration authorised by an enrolment code
  actor TEXT NOT NULL DEFAULT '',
  allowed TEXT NOT NULL DEFAULT '',     -- comma-separated base64url credential ids
  appid TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX ceremonies_expiry ON ceremonies(expires_at);

CREATE TABLE webauthn_credentials (
  raw_id BLOB PRIMARY KEY,              -- §7.1 step 26: unique across every user
  id TEXT NOT NULL UNIQUE,              -- base64url(raw_id), also credentials.id
  user_id TEXT NOT NULL REFERENCES users(id),
  public_key BLOB NOT NULL,             -- COSE_Key as registered
  alg INTEGER NOT NULL,
  sign_count INTEGER NOT NULL,
  uv_initialized INTEGER NOT NULL,
  backup_eligible INTEGER NOT NULL,
  backup_state INTEGER NOT NULL,
  transports TEXT NOT NULL DEFAULT '',
  aaguid BLOB NOT NULL,
  fmt TEXT NOT NULL,
  attestation_type TEXT NOT NULL,
  discoverable INTEGER NOT NULL DEFAULT 0,
  appid TEXT NOT NULL DEFAULT '',
  clone_suspected INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials(user_id);
