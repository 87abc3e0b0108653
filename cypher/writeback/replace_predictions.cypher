// Replace each source node's predictions of one kind with this run's, in one transaction.
// $rows: [{source: id, ids: [...], pos: [...], scores: [...], ranks: [...]}], every row a
// whole source node, its targets' ids, their positions in $targets, scores and ranks as
// parallel lists (rank order). $targets: every target id of the batch once; each is
// looked up once per batch rather than once per relationship (a batch of 10,000 names
// about 3,000 products on issue 13's shop).
// $run_id, $model, $model_version, $scored_at: lineage stamped on every relationship.
// Idempotent (the driver retries transactions, and a crashed run is rerun): a source whose
// predictions already are exactly this run's targets is left alone; any other source loses
// all its predictions of this kind and gets this run's, created fresh (CREATE, not MERGE:
// no per-relationship existence check, which is what makes batches fast).
UNWIND range(0, size($targets) - 1) AS j
OPTIONAL MATCH (target:{{target}} {id: $targets[j]})
WITH j, target ORDER BY j
// one single-item list per target id, [null] where there is no such node, so that
// positions hold
WITH collect([target]) AS found
UNWIND $rows AS row
MATCH (s:{{source}} {id: row.source})
OPTIONAL MATCH (s)-[old:{{rel}}]->(t:{{target}})
WITH found, s, row, collect(old) AS olds, collect(t.id) AS old_targets,
     count(CASE WHEN old.run_id = $run_id THEN 1 END) AS mine
WITH found, s, row, olds,
     mine = size(olds) AND size(olds) = size(row.ids)
       AND all(x IN row.ids WHERE x IN old_targets) AS current
CALL (found, s, row, olds, current) {
  WITH * WHERE NOT current
  FOREACH (o IN olds | DELETE o)
  WITH found, s, row
  UNWIND range(0, size(row.ids) - 1) AS i
  WITH s, row, i, found[row.pos[i]][0] AS t
  WHERE t IS NOT NULL
  CREATE (s)-[:{{rel}} {
    run_id: $run_id, score: row.scores[i], rank: row.ranks[i], model: $model,
    model_version: $model_version, scored_at: $scored_at
  }]->(t)
  RETURN count(*) AS created
}
RETURN count(s) AS sources,
       sum(CASE WHEN current THEN size(olds) ELSE created END) AS linked,
       sum(size(row.ids)) AS asked
