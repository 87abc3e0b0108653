// Give the lock back, only if it is still ours. $name, $holder
MATCH (s:SyncState {name: $name})
WHERE s.lock_holder = $holder
REMOVE s.lock_holder, s.lock_expires, s.lock_acquired_at
RETURN count(s) AS released
