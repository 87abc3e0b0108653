// (:Product)-[:IN_CATEGORY]->(:Category); row = {id, category}. The category node
// exists (the loader merged every category a product names). A product is in one
// category: a different old link is replaced.
//
// Change marker: the product's updated_at moves when its category changes, and only then.
UNWIND $rows AS row
MATCH (n:Product {id: row.id})
MATCH (target:Category {id: row.category})
OPTIONAL MATCH (n)-[old:IN_CATEGORY]->(other:Category)
WHERE other <> target
DELETE old
WITH DISTINCT n, target
MERGE (n)-[:IN_CATEGORY]->(target)
ON CREATE SET n.updated_at = datetime()
