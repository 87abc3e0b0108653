// Customers currently recommended one of the changed products (their scores are stale).
// $product_ids, $cap
UNWIND $product_ids AS pid
MATCH (c:Customer)-[:{{rel}}]->(:Product {id: pid})
RETURN DISTINCT c.id AS id
LIMIT $cap
