// What customers are recommended now (for --dry-run's comparison). $ids
UNWIND $ids AS cid
MATCH (c:Customer {id: cid})-[r:{{rel}}]->(p:Product)
RETURN c.id AS customer_id, p.id AS product_id, r.run_id AS run_id
