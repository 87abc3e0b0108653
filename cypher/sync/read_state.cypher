// The sync's state: watermark, last run, and who holds the lock until when. $name
MATCH (s:SyncState {name: $name})
RETURN s.watermark AS watermark, s.last_run_id AS last_run_id,
       s.last_success_at AS last_success_at, s.last_rescored AS last_rescored,
       s.lock_holder AS lock_holder, s.lock_expires AS lock_expires,
       datetime() AS now
