-- Endpoint operations (issue #4): delivery mode, the start of the current
-- run of failures (auto-disable), the last test, throttled attempts.
ALTER TABLE endpoints
    ADD COLUMN mode          text NOT NULL DEFAULT 'at_least_once',
    ADD COLUMN failing_since timestamptz,
    ADD COLUMN last_test     jsonb;
ALTER TABLE deliveries ADD COLUMN throttled integer NOT NULL DEFAULT 0;

-- Attempt counts per endpoint in StatsBucket slots, kept by
-- CompleteDeliveries in the same transaction.
CREATE TABLE endpoint_stats (
    endpoint_id text NOT NULL,
    bucket      timestamptz NOT NULL,
    tenant_id   text NOT NULL,
    succeeded   integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_id, bucket)
);
CREATE INDEX endpoint_stats_bucket ON endpoint_stats (bucket);

-- Alert incidents: at most one open per key.
CREATE TABLE alerts (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL,
    tenant_id   text NOT NULL,
    kind        text NOT NULL,
    subject     text NOT NULL,
    opened_at   timestamptz NOT NULL,
    resolved_at timestamptz
);
CREATE UNIQUE INDEX alerts_open ON alerts (key) WHERE resolved_at IS NULL;

-- An event's deliveries have ids in first_delivery..last_delivery (see
-- events). Deliveries added later (a replay to an endpoint that had none)
-- get ids outside that range (or, with clock skew between nodes, inside
-- it); they are listed here, so that listings and retention find them too.
-- Rows go with their event (Purge) or their tenant.
CREATE TABLE late_deliveries (
    tenant_id   text NOT NULL,
    event_id    text NOT NULL,
    delivery_id text NOT NULL,
    PRIMARY KEY (tenant_id, event_id, delivery_id)
);
