// Record (or re-open) a model run's lineage before its predictions are written.
// $run_id, $model, $model_version, $metrics (JSON string), $kind (relationship type written),
// $writer (host:pid:nonce of the writing process: a later run tells a dead writer's run).
MERGE (m:ModelRun {run_id: $run_id})
ON CREATE SET m.created_at = datetime()
SET m.model = $model,
    m.model_version = $model_version,
    m.metrics = $metrics,
    m.kind = $kind,
    m.status = 'writing',
    m.writer = $writer,
    m.updated_at = datetime()
