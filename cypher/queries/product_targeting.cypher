// The customers most likely to buy a product (highest recommendation score first), leaving
// out those who already bought it: an audience for a campaign.
//
// $product_id  the product's id
// $limit       (optional) at most this many customers; default 100
//
// Example: kgdistill query product_targeting --param product_id=1001 --param limit=50
MATCH (c:Customer)-[r:{{recommended}}]->(p:Product {id: $product_id})
WHERE NOT EXISTS { (c)-[:BOUGHT]->(p) }
RETURN c.id AS customer_id, round(r.score, 4) AS score, r.rank AS rank, r.run_id AS run_id
ORDER BY score DESC, rank, customer_id
LIMIT coalesce($limit, 100)
