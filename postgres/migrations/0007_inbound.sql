-- The receiving side: sources (inbound URLs), triggers (accepted requests),
-- rules and their runs. Sources and rules belong to their tenant by foreign
-- key; triggers and runs are written on the hot path and carry none (like
-- events and deliveries), so DeleteTenant removes them explicitly. JSON that
-- comes from outside (headers, query, git fields, results) is kept as text,
-- not jsonb: jsonb refuses \u0000, which a query string may carry.

CREATE TABLE sources (
    id                 text PRIMARY KEY,
    tenant_id          text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name               text NOT NULL, -- normalized; unique across tenants (the URL names no tenant)
    description        text NOT NULL,
    verifier           jsonb NOT NULL, -- the settings, without secrets
    secrets            text NOT NULL, -- JSON list, sealed as a whole when a cipher is set
    content_types      jsonb NOT NULL,
    max_body_bytes     bigint NOT NULL,
    response           jsonb,
    rate_limit         double precision NOT NULL,
    dedup_window_ns    bigint NOT NULL,
    heartbeat_every_ns bigint NOT NULL, -- 0: no heartbeat expected
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    last_request_at    timestamptz,
    accepted           bigint NOT NULL DEFAULT 0,
    rejected           bigint NOT NULL DEFAULT 0,
    CONSTRAINT sources_name UNIQUE (name)
);
CREATE INDEX sources_tenant ON sources (tenant_id, id);

-- One row per accepted request. An unprocessed trigger is in the
-- triggers_unprocessed index until a runner has stored its runs; while a
-- runner holds it, lease_owner and lease_until say who and until when.
CREATE TABLE triggers (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    source_id    text NOT NULL, -- '' for a generic trigger
    source       text NOT NULL, -- the source's name, or ''
    name         text NOT NULL, -- the generic trigger's name, or ''
    received_at  timestamptz NOT NULL,
    method       text NOT NULL,
    headers      text NOT NULL, -- JSON object
    query        text NOT NULL, -- JSON object of lists
    content_type text NOT NULL,
    body         bytea NOT NULL, -- the parsed body's JSON, byte for byte
    body_sha256  text NOT NULL,
    delivery_id  text NOT NULL, -- the provider's, '' if none
    git          text, -- JSON
    processed_at timestamptz,
    runs         integer NOT NULL DEFAULT 0,
    lease_owner  text,
    lease_until  timestamptz
);
CREATE INDEX triggers_unprocessed ON triggers (received_at, id) WHERE processed_at IS NULL;
CREATE INDEX triggers_tenant ON triggers (tenant_id, id);
CREATE INDEX triggers_source ON triggers (source_id, id) WHERE source_id <> '';
CREATE INDEX triggers_name ON triggers (tenant_id, name, id) WHERE name <> '';
-- De-duplication: the earlier triggers of a source (or generic name) with a
-- provider delivery id. CreateTrigger looks them up under an advisory lock
-- on the key, so concurrent requests with one delivery id store one trigger.
CREATE INDEX triggers_dedup ON triggers (source_id, tenant_id, name, delivery_id, received_at) WHERE delivery_id <> '';

CREATE TABLE rules (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL,
    enabled     boolean NOT NULL,
    source      text NOT NULL, -- source name, or ''
    trigger     text NOT NULL, -- generic trigger name, or ''
    git         jsonb,
    criteria    text, -- JSON kept as written
    action      text NOT NULL, -- JSON
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT rules_name UNIQUE (tenant_id, name)
);
CREATE INDEX rules_tenant ON rules (tenant_id, id);

-- The runner's queue. due_at is when the run may next be claimed: its next
-- attempt while queued, its lease expiry while running (so an expired
-- lease is simply due again), NULL once it has ended.
CREATE TABLE runs (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    rule_id     text NOT NULL,
    rule_name   text NOT NULL,
    trigger_id  text NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    action      text NOT NULL, -- JSON, rendered
    attempts    integer NOT NULL DEFAULT 0,
    due_at      timestamptz,
    lease_owner text,
    started_at  timestamptz,
    ended_at    timestamptz,
    result      text, -- JSON
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX runs_due ON runs (due_at, id) WHERE status IN ('queued', 'running');
CREATE INDEX runs_tenant ON runs (tenant_id, id);
CREATE INDEX runs_rule ON runs (rule_id, id);
CREATE INDEX runs_trigger ON runs (trigger_id, id);
