// A trained link-prediction model's probabilities for the wanted pairs only. GDS's
// predict streams the top $config.topN of all unconnected (source label, target label)
// pairs and cannot score given pairs, so it ranks every pair of the labels and the
// wanted ones ("customer:product" keys of $wanted, in either order) are kept here.
CALL gds.beta.pipeline.linkPrediction.predict.stream($graph, $config)
  YIELD node1, node2, probability
WITH node1, node2, probability
WHERE $wanted[toString(node1) + ':' + toString(node2)] IS NOT NULL
   OR $wanted[toString(node2) + ':' + toString(node1)] IS NOT NULL
RETURN node1, node2, probability
