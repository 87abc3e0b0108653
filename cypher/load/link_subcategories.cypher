// (:Category)-[:SUBCATEGORY_OF]->(:Category); row = {id, parent}. Both ends exist
// (merge_categories ran first and the loader checked parents). A category has one
// parent: a different old link is replaced.
//
// Change marker: the child's updated_at moves when its parent changes, and only then.
UNWIND $rows AS row
MATCH (n:Category {id: row.id})
MATCH (parent:Category {id: row.parent})
OPTIONAL MATCH (n)-[old:SUBCATEGORY_OF]->(other:Category)
WHERE other <> parent
DELETE old
WITH DISTINCT n, parent
MERGE (n)-[:SUBCATEGORY_OF]->(parent)
ON CREATE SET n.updated_at = datetime()
