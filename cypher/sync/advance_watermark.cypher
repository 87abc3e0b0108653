// Record a successful sync: the new watermark, only while we still hold the lock.
// $name, $holder, $watermark (datetime), $run_id, $rescored
MATCH (s:SyncState {name: $name})
WHERE s.lock_holder = $holder
SET s.watermark = $watermark,
    s.last_run_id = $run_id,
    s.last_rescored = $rescored,
    s.last_success_at = datetime()
RETURN count(s) AS advanced
