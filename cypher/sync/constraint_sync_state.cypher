// One SyncState per sync name: MERGE in acquire_lock relies on it to stay single.
CREATE CONSTRAINT sync_state_name IF NOT EXISTS FOR (s:SyncState) REQUIRE s.name IS UNIQUE
