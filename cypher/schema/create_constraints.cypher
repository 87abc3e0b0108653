// The graph model's keys and indexes. Applied before every load; each statement
// is idempotent (IF NOT EXISTS), so applying it again changes nothing.
// Statements are separated by ';' and run one at a time (kgstore.ingest.apply_schema).
//
// Uniqueness constraints on the business id back the MERGE of every loader and
// the keyset paging of extraction (ORDER BY n.id with an index).
CREATE CONSTRAINT customer_id IF NOT EXISTS FOR (n:Customer) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT product_id IF NOT EXISTS FOR (n:Product) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT category_id IF NOT EXISTS FOR (n:Category) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT brand_id IF NOT EXISTS FOR (n:Brand) REQUIRE n.id IS UNIQUE;
// Change markers for the batch sync job: nodes carry updated_at, interactions
// loaded_at; both indexed so "what changed since the watermark" is a seek.
CREATE INDEX customer_updated_at IF NOT EXISTS FOR (n:Customer) ON (n.updated_at);
CREATE INDEX product_updated_at IF NOT EXISTS FOR (n:Product) ON (n.updated_at);
CREATE INDEX clicked_loaded_at IF NOT EXISTS FOR ()-[r:CLICKED]-() ON (r.loaded_at);
CREATE INDEX favorited_loaded_at IF NOT EXISTS FOR ()-[r:FAVORITED]-() ON (r.loaded_at);
CREATE INDEX added_to_cart_loaded_at IF NOT EXISTS FOR ()-[r:ADDED_TO_CART]-() ON (r.loaded_at);
CREATE INDEX bought_loaded_at IF NOT EXISTS FOR ()-[r:BOUGHT]-() ON (r.loaded_at)
