// One page of products in id order, as one record of columns (keyset paging as in
// page_customers). links holds [category id, brand id] per product (null when none).
MATCH (n:Product)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
WITH n, [k IN keys(n) WHERE NOT k IN $hidden] AS ks
RETURN collect(n.id) AS id, collect(ks) AS keys, collect([k IN ks | n[k]]) AS values,
       collect([
         [(n)-[:IN_CATEGORY]->(c:Category) | c.id][0],
         [(n)-[:MADE_BY]->(b:Brand) | b.id][0]
       ]) AS links
