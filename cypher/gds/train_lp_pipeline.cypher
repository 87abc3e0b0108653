// Train a link-prediction pipeline on a projected graph; the model stays in GDS's memory.
CALL gds.beta.pipeline.linkPrediction.train($graph, $config) YIELD modelInfo, trainMillis
RETURN modelInfo.bestParameters AS best, modelInfo.metrics AS metrics, trainMillis
