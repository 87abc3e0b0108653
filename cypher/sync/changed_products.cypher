// Products created or changed (updated_at) in ($since, $until]. $since, $until
MATCH (p:Product)
WHERE p.updated_at > $since AND p.updated_at <= $until
RETURN p.id AS id
