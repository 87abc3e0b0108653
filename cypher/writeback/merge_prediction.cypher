// One prediction per statement (and per transaction): the naive baseline that
// bench/writeback.py compares the batched replace_predictions with. Not used otherwise.
// $source, $target, $score, $rank, $run_id, $model, $model_version, $scored_at
MATCH (s:{{source}} {id: $source}), (t:{{target}} {id: $target})
MERGE (s)-[r:{{rel}} {run_id: $run_id}]->(t)
SET r.score = $score,
    r.rank = $rank,
    r.model = $model,
    r.model_version = $model_version,
    r.scored_at = $scored_at
