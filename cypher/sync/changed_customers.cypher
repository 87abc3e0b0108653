// Customers created or changed (updated_at) in ($since, $until]. $since, $until
MATCH (c:Customer)
WHERE c.updated_at > $since AND c.updated_at <= $until
RETURN c.id AS id
