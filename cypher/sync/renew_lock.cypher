// Extend the lock while a long sync works; zero rows back means it is no longer ours.
// $name, $holder, $ttl_ms
MATCH (s:SyncState {name: $name})
WHERE s.lock_holder = $holder
SET s.lock_expires = datetime() + duration({milliseconds: $ttl_ms})
RETURN s.lock_expires AS expires
