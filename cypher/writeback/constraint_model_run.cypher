// One ModelRun per run id (MERGE relies on it under concurrency).
CREATE CONSTRAINT model_run_id IF NOT EXISTS FOR (m:ModelRun) REQUIRE m.run_id IS UNIQUE
