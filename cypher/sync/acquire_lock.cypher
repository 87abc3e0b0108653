// Take the sync lock if it is free, expired, already ours, or held by $stale_holder
// (a holder known to be dead). One statement in one write transaction: the SET
// below takes the node's write lock before the check, so two syncs cannot both win.
// $name, $holder, $ttl_ms, $stale_holder (or null)
MERGE (s:SyncState {name: $name})
SET s.lock_checked_at = datetime()
WITH s,
     s.lock_holder IS NULL
       OR s.lock_expires IS NULL
       OR s.lock_expires < datetime()
       OR s.lock_holder = $holder
       OR coalesce(s.lock_holder = $stale_holder, false) AS free
SET s.lock_holder = CASE WHEN free THEN $holder ELSE s.lock_holder END,
    s.lock_expires = CASE WHEN free THEN datetime() + duration({milliseconds: $ttl_ms})
                     ELSE s.lock_expires END,
    s.lock_acquired_at = CASE WHEN free THEN datetime() ELSE s.lock_acquired_at END
RETURN free AS acquired, s.lock_holder AS holder, s.lock_expires AS expires
