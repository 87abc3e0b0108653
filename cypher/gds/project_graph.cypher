// Project a graph straight from parameters (Cypher projection of integer node ids):
// each group holds the columns src and tgt of one relationship type between two
// labels; a group without targets adds its source nodes on their own. Every
// relationship is undirected, as FastRP and link prediction want it.
UNWIND $groups AS g
UNWIND range(0, size(g.src) - 1) AS i
WITH g, g.src[i] AS source, CASE WHEN size(g.tgt) > 0 THEN g.tgt[i] END AS target
WITH gds.graph.project(
  $graph,
  source,
  target,
  {
    sourceNodeLabels: g.source,
    targetNodeLabels: CASE WHEN target IS NULL THEN NULL ELSE g.target END,
    relationshipType: CASE WHEN target IS NULL THEN NULL ELSE g.type END
  },
  {undirectedRelationshipTypes: ['*']}
) AS projected
RETURN projected.nodeCount AS nodes, projected.relationshipCount AS relationships
