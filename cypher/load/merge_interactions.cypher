// (:Customer)-[:{{rel_type}} {day, count}]->(:Product), one relationship per
// (customer, product, type, day); row = {customer, product, day, count}, already
// aggregated by the loader (count = how many source rows it stands for).
// Both ends exist: the loader checked them and reported or skipped unknown ones.
//
// Change marker for the sync job: r.loaded_at = datetime() ON CREATE only. A day
// loaded again replaces its count (a day's export is taken to be complete) and
// marks r.updated_at only when the count differs, so an identical reload sets nothing.
UNWIND $rows AS row
MATCH (c:Customer {id: row.customer})
MATCH (p:Product {id: row.product})
MERGE (c)-[r:{{rel_type}} {day: row.day}]->(p)
ON CREATE SET r.count = row.count, r.loaded_at = datetime()
WITH r, row
WHERE r.count <> row.count
SET r.count = row.count, r.updated_at = datetime()
