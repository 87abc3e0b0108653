// One page of categories in id order (keyset paging: ids after $after, which is an
// int for the integer-id pass and a string for the string-id pass, since Cypher
// compares only like types). The id index serves the ORDER BY.
MATCH (n:Category)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
RETURN n.id AS id, n.level AS level,
       [(n)-[:SUBCATEGORY_OF]->(p:Category) | p.id][0] AS parent
