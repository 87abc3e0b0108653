// One page of categories in id order, as one record of columns (keyset paging as in
// page_customers). links holds [level, parent id] per category (null when none).
MATCH (n:Category)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
RETURN collect(n.id) AS id,
       collect([n.level, [(n)-[:SUBCATEGORY_OF]->(p:Category) | p.id][0]]) AS links
