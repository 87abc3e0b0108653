// Why a product is (or would be) recommended to a customer: the paths that connect them.
// "shared category": products the customer interacted with in the product's category;
// "same brand": products of the same brand; "similar customer": another customer who
// interacted with the same products as this one and then with this product. Strongest first.
//
// $customer_id  the customer's id
// $product_id   the product's id
// $limit        (optional) at most this many reasons; default 10
//
// Example: kgdistill query explain_recommendation --param customer_id=42 --param product_id=1001
MATCH (c:Customer {id: $customer_id}), (p:Product {id: $product_id})
OPTIONAL MATCH (c)-[r:{{recommended}}]->(p)
CALL (c, p) {
  MATCH (c)-[i:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]->(seen:Product)-[:IN_CATEGORY]->(cat:Category)<-[:IN_CATEGORY]-(p)
  WHERE seen <> p
  WITH cat, count(i) AS strength, collect(DISTINCT seen.id)[..5] AS evidence
  RETURN 'shared category' AS reason, cat.id AS via, strength, evidence
  UNION ALL
  MATCH (c)-[i:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]->(seen:Product)-[:MADE_BY]->(b:Brand)<-[:MADE_BY]-(p)
  WHERE seen <> p
  WITH b, count(i) AS strength, collect(DISTINCT seen.id)[..5] AS evidence
  RETURN 'same brand' AS reason, b.id AS via, strength, evidence
  UNION ALL
  MATCH (c)-[:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]->(shared:Product)
        <-[:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]-(other:Customer)
        -[:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]->(p)
  WHERE other <> c AND shared <> p
  WITH other, count(DISTINCT shared) AS strength, collect(DISTINCT shared.id)[..5] AS evidence
  RETURN 'similar customer' AS reason, other.id AS via, strength, evidence
}
RETURN reason, via, strength, evidence, r.rank AS rank, round(r.score, 4) AS score
ORDER BY strength DESC, reason, via
LIMIT coalesce($limit, 10)
