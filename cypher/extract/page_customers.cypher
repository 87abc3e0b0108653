// One page of customers in id order, as one record of columns (keyset paging:
// ids after $after, an int in the integer-id pass and a string in the string-id
// pass, since Cypher compares only like types; the id index serves the ORDER BY).
// Feature properties come as parallel key and value lists, leaving out $hidden
// (bookkeeping such as updated_at, whose temporal values are slow to decode).
MATCH (n:Customer)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
WITH n, [k IN keys(n) WHERE NOT k IN $hidden] AS ks
RETURN collect(n.id) AS id, collect(ks) AS keys, collect([k IN ks | n[k]]) AS values
