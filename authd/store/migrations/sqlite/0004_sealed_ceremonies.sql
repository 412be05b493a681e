-- authd schema version 4: WebAuthn ceremonies are sealed into the handle the client carries, so
-- starting one writes nothing. The store keeps only the ids of used ceremonies, until they
-- expire, so that each handle is accepted once.
DROP TABLE ceremonies;
CREATE TABLE used_ceremonies (
  id BLOB PRIMARY KEY,                  -- the random id sealed inside the handle
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_ceremonies_expiry ON used_ceremonies(expires_at);
