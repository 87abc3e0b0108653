// FastRP vectors of the nodes whose ids are at most $last (customers and products).
CALL gds.fastRP.stream($graph, $config) YIELD nodeId, embedding
WITH nodeId, embedding
WHERE nodeId <= $last
RETURN nodeId, embedding
