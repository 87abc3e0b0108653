// Replace each source node's predictions of one kind with this run's, in one transaction.
// $rows: [{source: id, targets: [{id, score, rank}, ...]}], every row a whole source node.
// $run_id, $model, $model_version, $scored_at: lineage stamped on every relationship.
// Idempotent (the driver retries transactions, and a crashed run is rerun): a source whose
// predictions already are exactly this run's targets is left alone; any other source loses
// all its predictions of this kind and gets this run's, created fresh (CREATE, not MERGE:
// no per-relationship existence check, which is what makes batches fast).
UNWIND $rows AS row
MATCH (s:{{source}} {id: row.source})
OPTIONAL MATCH (s)-[old:{{rel}}]->(t:{{target}})
WITH s, row, collect(old) AS olds, collect(t.id) AS old_targets,
     count(CASE WHEN old.run_id = $run_id THEN 1 END) AS mine
WITH s, row, olds,
     mine = size(olds) AND size(olds) = size(row.targets)
       AND all(x IN row.targets WHERE x.id IN old_targets) AS current
CALL (s, row, olds, current) {
  WITH * WHERE NOT current
  FOREACH (o IN olds | DELETE o)
  WITH s, row
  UNWIND row.targets AS x
  MATCH (t:{{target}} {id: x.id})
  CREATE (s)-[:{{rel}} {
    run_id: $run_id, score: x.score, rank: x.rank, model: $model,
    model_version: $model_version, scored_at: $scored_at
  }]->(t)
  RETURN count(*) AS created
}
RETURN count(s) AS sources,
       sum(CASE WHEN current THEN size(olds) ELSE created END) AS linked,
       sum(size(row.targets)) AS asked
