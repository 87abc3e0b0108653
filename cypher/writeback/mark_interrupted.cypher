// A run whose writer died mid-write: it will never finish. $run_id, $by (the run that saw it)
MATCH (m:ModelRun {run_id: $run_id})
WHERE m.status = 'writing'
SET m.status = 'interrupted',
    m.interrupted_seen_by = $by,
    m.updated_at = datetime()
