// Customers with interactions of one type loaded in ($since, $until], and the latest day
// among them. $since, $until (datetimes)
MATCH (c:Customer)-[i:{{rel}}]->(:Product)
WHERE i.loaded_at > $since AND i.loaded_at <= $until
RETURN c.id AS id, max(i.day) AS day
