// A link-prediction pipeline as a GDS user builds one: FastRP vectors (computed over
// the context labels and relationship types too) as node properties, the Hadamard
// product of a pair's vectors as its features, logistic regression and random forest
// candidates, autotuned over $trials trials.
CALL gds.beta.pipeline.linkPrediction.create($pipeline) YIELD name
CALL gds.beta.pipeline.linkPrediction.addNodeProperty(name, 'fastRP', $fastrp)
  YIELD nodePropertySteps
CALL gds.beta.pipeline.linkPrediction.addFeature(name, 'hadamard', {nodeProperties: ['embedding']})
  YIELD featureSteps
CALL gds.beta.pipeline.linkPrediction.configureSplit(name, $split) YIELD splitConfig
CALL gds.beta.pipeline.linkPrediction.addLogisticRegression(name, $logistic)
  YIELD parameterSpace AS logisticSpace
CALL gds.beta.pipeline.linkPrediction.addRandomForest(name, $forest)
  YIELD parameterSpace AS forestSpace
CALL gds.alpha.pipeline.linkPrediction.configureAutoTuning(name, {maxTrials: $trials})
  YIELD autoTuningConfig
RETURN name
