// Every customer: the first sync (no watermark yet) scores them all.
MATCH (c:Customer)
RETURN c.id AS id
