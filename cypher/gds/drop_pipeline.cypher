// Remove a training pipeline and the model trained from it; nothing happens when absent.
CALL gds.pipeline.drop($pipeline, false) YIELD pipelineName
WITH count(*) AS dropped
CALL gds.model.drop($model, false) YIELD modelName
RETURN count(*) AS models
