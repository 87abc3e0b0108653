// Lets the sync find nodes created or changed since its watermark without a full scan.
CREATE INDEX IF NOT EXISTS FOR (n:{{label}}) ON (n.updated_at)
