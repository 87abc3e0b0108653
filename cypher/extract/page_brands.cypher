// One page of brands in id order, as one record of columns (keyset paging as in
// page_customers).
MATCH (n:Brand)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
RETURN collect(n.id) AS id
