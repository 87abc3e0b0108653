// One relationship of the prediction's type that no prediction run wrote (no run_id):
// data stored under that name, e.g. interactions loaded as RECOMMENDED, which replacing
// predictions would delete. No row back: the name is free.
MATCH (s:{{source}})-[r:{{rel}}]->(t:{{target}})
WHERE r.run_id IS NULL
RETURN s.id AS source, t.id AS target, keys(r) AS keys
LIMIT 1
