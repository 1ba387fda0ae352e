-- The receiving side: sources, triggers, rules, runs.

-- A source is a named inbound URL; names are unique across tenants (the URL
-- names no tenant). verifier is the JSON of hookd.SourceVerifier, which
-- leaves the secrets out; they are in secrets, a JSON list of strings
-- sealed as a whole when a cipher is set (as endpoints.secrets).
CREATE TABLE sources (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL,
    verifier        TEXT NOT NULL,
    secrets         TEXT NOT NULL,
    content_types   TEXT NOT NULL,
    max_body_bytes  INTEGER NOT NULL,
    response        TEXT, -- JSON of hookd.SourceResponse
    rate_limit      REAL NOT NULL DEFAULT 0,
    dedup_window_ns INTEGER NOT NULL,
    heartbeat_ns    INTEGER NOT NULL DEFAULT 0,
    accepted        INTEGER NOT NULL DEFAULT 0,
    rejected        INTEGER NOT NULL DEFAULT 0,
    last_request_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX sources_tenant ON sources (tenant_id, id);

-- One accepted request. source_id is NULL for a generic trigger (name set)
-- and stays when its source is deleted. The lease is the runner's while it
-- matches rules; processed_at is set in the transaction that stores the runs.
CREATE TABLE triggers (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source_id    TEXT,
    source       TEXT,
    name         TEXT,
    received_at  INTEGER NOT NULL,
    method       TEXT NOT NULL,
    headers      TEXT NOT NULL,
    query        TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL, -- kept byte-exact
    body_sha256  TEXT NOT NULL,
    delivery_id  TEXT,
    git          TEXT, -- JSON of hookd.Git
    processed_at INTEGER,
    runs         INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER
);
CREATE INDEX triggers_tenant ON triggers (tenant_id, id);
CREATE INDEX triggers_source ON triggers (source_id, id) WHERE source_id IS NOT NULL;
CREATE INDEX triggers_name ON triggers (tenant_id, name, id) WHERE name IS NOT NULL;
-- The runner's queue: only unprocessed triggers are in it. A claim sets the
-- lease columns, which are not part of it, so claiming writes no index;
-- leased rows are skipped while their lease holds.
CREATE INDEX triggers_unprocessed ON triggers (received_at, id) WHERE processed_at IS NULL;
-- De-duplication by provider delivery id, per source or per generic name.
CREATE INDEX triggers_dedup_source ON triggers (source_id, delivery_id, received_at)
    WHERE delivery_id IS NOT NULL AND source_id IS NOT NULL;
CREATE INDEX triggers_dedup_name ON triggers (tenant_id, name, delivery_id, received_at)
    WHERE delivery_id IS NOT NULL AND source_id IS NULL;

CREATE TABLE rules (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    source       TEXT NOT NULL,
    trigger_name TEXT NOT NULL,
    git          TEXT,          -- JSON of hookd.GitMatch
    criteria     TEXT,          -- as written
    action       TEXT NOT NULL, -- JSON of hookd.Action
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

-- One rule match. No foreign keys (like deliveries): a run outlives its
-- rule, and DeleteTenant removes a tenant's runs itself. done is 1 once the
-- run succeeded or failed; the queue index is keyed on it rather than on
-- status, so a claim (queued -> running, a lease) writes no index.
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    rule_id         TEXT NOT NULL,
    rule_name       TEXT NOT NULL,
    trigger_id      TEXT NOT NULL,
    status          TEXT NOT NULL,
    done            INTEGER NOT NULL DEFAULT 0,
    action          TEXT NOT NULL, -- JSON of the rendered hookd.Action
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    started_at      INTEGER,
    ended_at        INTEGER,
    result          TEXT, -- JSON of hookd.RunResult
    lease_owner     TEXT,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX runs_due ON runs (next_attempt_at) WHERE done = 0;
CREATE INDEX runs_tenant ON runs (tenant_id, id);
CREATE INDEX runs_rule ON runs (rule_id, id);
CREATE INDEX runs_trigger ON runs (trigger_id, id);
