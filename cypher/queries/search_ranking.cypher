// A customer's recommendations inside a category (or any of its subcategories) and a price
// band, in recommendation order: personalised ranking for a category page or a search.
//
// $customer_id  the customer's id
// $category_id  the category (products in it or in its subcategories match)
// $min_price    (optional) lowest price, inclusive; no lower bound when left out
// $max_price    (optional) highest price, inclusive; no upper bound when left out
// $limit        (optional) at most this many rows; default 20
//
// Example: kgdistill query search_ranking --param customer_id=42 --param category_id=13 --param max_price=30.5
MATCH (c:Customer {id: $customer_id})-[r:{{recommended}}]->(p:Product)-[:IN_CATEGORY]->(leaf:Category)
WHERE EXISTS { (leaf)-[:SUBCATEGORY_OF*0..]->(:Category {id: $category_id}) }
  AND ($min_price IS NULL OR p.price >= $min_price)
  AND ($max_price IS NULL OR p.price <= $max_price)
WITH DISTINCT r, p, leaf
RETURN r.rank AS rank, p.id AS product_id, round(r.score, 4) AS score, p.price AS price,
       leaf.id AS category
ORDER BY rank
LIMIT coalesce($limit, 20)
