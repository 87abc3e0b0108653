// Lets the sync find interactions loaded since its watermark without a full scan.
CREATE INDEX IF NOT EXISTS FOR ()-[i:{{rel}}]-() ON (i.loaded_at)
