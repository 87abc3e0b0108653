// Remove a projected graph from GDS's catalogue; nothing happens when there is none.
CALL gds.graph.drop($graph, false) YIELD graphName
RETURN graphName
