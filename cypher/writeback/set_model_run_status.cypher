// Mark a model run 'complete' or 'failed' once its write-back ends.
// $run_id, $status, $sources, $relationships
MATCH (m:ModelRun {run_id: $run_id})
SET m.status = $status,
    m.sources = $sources,
    m.relationships = $relationships,
    m.updated_at = datetime()
