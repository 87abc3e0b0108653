// Unique ids for a label the write-back matches on (idempotent; the loaders' schema
// in cypher/schema/ creates the same constraints under their own names).
CREATE CONSTRAINT IF NOT EXISTS FOR (n:{{label}}) REQUIRE n.id IS UNIQUE
