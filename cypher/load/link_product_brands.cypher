// (:Product)-[:MADE_BY]->(:Brand); row = {id, brand}. Unknown brands (EComm's 0)
// never reach this statement. A product has one brand: a different old link is replaced.
//
// Change marker: the product's updated_at moves when its brand changes, and only then.
UNWIND $rows AS row
MATCH (n:Product {id: row.id})
MATCH (target:Brand {id: row.brand})
OPTIONAL MATCH (n)-[old:MADE_BY]->(other:Brand)
WHERE other <> target
DELETE old
WITH DISTINCT n, target
MERGE (n)-[:MADE_BY]->(target)
ON CREATE SET n.updated_at = datetime()
