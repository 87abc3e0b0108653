// Customers to rescore because products changed: those whose recent interactions
// (day >= $since_day) share a category with a changed product, most engaged first,
// at most $cap. $product_ids, $since_day (int YYYYMMDD), $cap
UNWIND $product_ids AS pid
MATCH (:Product {id: pid})-[:IN_CATEGORY]->(cat:Category)
WITH DISTINCT cat
MATCH (cat)<-[:IN_CATEGORY]-(:Product)<-[i:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]-(c:Customer)
WHERE i.day >= $since_day
RETURN c.id AS id, sum(coalesce(i.count, 1)) AS weight
ORDER BY weight DESC, id
LIMIT $cap
