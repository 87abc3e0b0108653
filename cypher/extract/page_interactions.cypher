// The interactions of one page of customers (keyset over customer ids, as in
// page_customers), returned as columns (one record per page cuts the driver's
// per-record cost). $types names the interaction relationship types; $until is
// the last day kept (YYYYMMDD), so later interactions stay out.
MATCH (c:Customer)
WHERE c.id > $after
WITH c ORDER BY c.id LIMIT $customers
WITH collect(c) AS page, last(collect(c.id)) AS last_id
UNWIND page AS c
OPTIONAL MATCH (c)-[r]->(p:Product)
WHERE type(r) IN $types AND r.day <= $until
WITH last_id, collect([c.id, p.id, type(r), r.day, r.count]) AS rows
RETURN last_id,
       [x IN rows WHERE x[1] IS NOT NULL | x[0]] AS customer,
       [x IN rows WHERE x[1] IS NOT NULL | x[1]] AS product,
       [x IN rows WHERE x[1] IS NOT NULL | x[2]] AS type,
       [x IN rows WHERE x[1] IS NOT NULL | x[3]] AS day,
       [x IN rows WHERE x[1] IS NOT NULL | x[4]] AS count
