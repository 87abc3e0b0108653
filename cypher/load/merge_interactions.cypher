// (:Customer)-[:{{rel_type}} {day, count}]->(:Product), one relationship per
// (customer, product, type, day), already aggregated by the loader (count = how
// many source rows it stands for). Both ends exist: the loader checked them and
// reported or skipped unknown ones.
//
// Parameters are four parallel lists, one entry per relationship: $customers,
// $products, $days, $counts. Lists pack and unpack faster than one map per row
// (about 15% more relationships per second, bench/ingest.py).
//
// Change marker for the sync job: r.loaded_at = datetime() ON CREATE only. A day
// loaded again replaces its count (a day's export is taken to be complete) and
// marks r.updated_at only when the count differs, so an identical reload sets nothing.
UNWIND range(0, size($customers) - 1) AS i
WITH $customers[i] AS customer, $products[i] AS product, $days[i] AS day, $counts[i] AS n
MATCH (c:Customer {id: customer})
MATCH (p:Product {id: product})
MERGE (c)-[r:{{rel_type}} {day: day}]->(p)
ON CREATE SET r.count = n, r.loaded_at = datetime()
WITH r, n
WHERE r.count <> n
SET r.count = n, r.updated_at = datetime()
