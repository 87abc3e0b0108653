// Replace each source node's predictions of one kind with this run's, in one transaction.
// $rows: [{source: id, targets: [{id, score, rank}, ...]}], every row a whole source node.
// $run_id, $model, $model_version, $scored_at: lineage stamped on every relationship.
// Idempotent (the driver retries transactions): MERGE on (source, target, run_id),
// SET the rest; predictions of other runs, or of this run to targets no longer listed, go.
UNWIND $rows AS row
MATCH (s:{{source}} {id: row.source})
CALL (s, row) {
  OPTIONAL MATCH (s)-[old:{{rel}}]->(t:{{target}})
  WHERE old.run_id IS NULL OR old.run_id <> $run_id
     OR NOT t.id IN [x IN row.targets | x.id]
  DELETE old
}
CALL (s, row) {
  UNWIND row.targets AS x
  MATCH (t:{{target}} {id: x.id})
  MERGE (s)-[r:{{rel}} {run_id: $run_id}]->(t)
  SET r.score = x.score,
      r.rank = x.rank,
      r.model = $model,
      r.model_version = $model_version,
      r.scored_at = $scored_at
  RETURN count(r) AS linked
}
RETURN count(s) AS sources, sum(linked) AS linked, sum(size(row.targets)) AS asked
