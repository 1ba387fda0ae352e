-- Endpoint operations (issue #4): delivery mode, the start of the current
-- run of failures (auto-disable), the last test, throttled attempts.
ALTER TABLE endpoints ADD COLUMN mode TEXT NOT NULL DEFAULT 'at_least_once';
ALTER TABLE endpoints ADD COLUMN failing_since INTEGER;
ALTER TABLE endpoints ADD COLUMN last_test TEXT; -- JSON of hookd.TestResult
ALTER TABLE deliveries ADD COLUMN throttled INTEGER NOT NULL DEFAULT 0;

-- Attempt counts per endpoint in StatsBucket slots (bucket: unix ns of the
-- slot's start), kept by CompleteDeliveries in the same transaction.
CREATE TABLE endpoint_stats (
    endpoint_id TEXT NOT NULL,
    bucket      INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL,
    succeeded   INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_id, bucket)
) WITHOUT ROWID;
CREATE INDEX endpoint_stats_bucket ON endpoint_stats (bucket);

-- Alert incidents: at most one open per key.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    opened_at   INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE UNIQUE INDEX alerts_open ON alerts (key) WHERE resolved_at IS NULL;

-- An event's deliveries have consecutive seqs recorded on the event row;
-- deliveries added later (a replay to an endpoint that had none) are
-- listed here so that listings and retention find them too.
CREATE TABLE late_deliveries (
    tenant_id TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, event_id, seq)
) WITHOUT ROWID;
