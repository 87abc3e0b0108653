// Products by id; row = {id, props}. props holds only the properties the source
// names (a partial export keeps the others as they are).
//
// Change marker for the sync job: n.updated_at = datetime() when the node is
// created or when a property actually changes. The property diff below makes a
// second identical load set nothing at all (no properties_set, no new marker).
UNWIND $rows AS row
MERGE (n:Product {id: row.id})
WITH n, row, [k IN keys(row.props) WHERE n[k] IS NULL OR n[k] <> row.props[k]] AS changed
WHERE size(changed) > 0 OR n.updated_at IS NULL
SET n += row.props, n.updated_at = datetime()
