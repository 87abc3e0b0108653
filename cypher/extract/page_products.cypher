// One page of products in id order (keyset paging: ids after $after, which is an
// int for the integer-id pass and a string for the string-id pass, since Cypher
// compares only like types). The id index serves the ORDER BY.
MATCH (n:Product)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
RETURN n.id AS id, properties(n) AS props,
       [(n)-[:IN_CATEGORY]->(c:Category) | c.id][0] AS category,
       [(n)-[:MADE_BY]->(b:Brand) | b.id][0] AS brand
