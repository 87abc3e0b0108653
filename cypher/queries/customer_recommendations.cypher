// A customer's current recommendations, best first, with each product's category and price.
//
// $customer_id  the customer's id (int, or string for non-integer ids)
// $limit        (optional) at most this many rows; default 20
//
// Example: kgdistill query customer_recommendations --param customer_id=42 --param limit=10
MATCH (c:Customer {id: $customer_id})-[r:{{recommended}}]->(p:Product)
OPTIONAL MATCH (p)-[:IN_CATEGORY]->(cat:Category)
WITH r, p, min(cat.id) AS category
RETURN r.rank AS rank, p.id AS product_id, round(r.score, 4) AS score, p.price AS price,
       category, r.model AS model, r.run_id AS run_id
ORDER BY rank
LIMIT coalesce($limit, 20)
