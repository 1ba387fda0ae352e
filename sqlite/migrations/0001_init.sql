-- Times are INTEGER Unix nanoseconds (UTC); JSON columns are TEXT.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE event_types (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    schema      TEXT,
    example     TEXT,
    deprecated  INTEGER NOT NULL DEFAULT 0,
    archived    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE endpoints (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    description          TEXT NOT NULL,
    url                  TEXT NOT NULL,
    events               TEXT NOT NULL,
    headers              TEXT NOT NULL,
    signatures           TEXT NOT NULL,
    secrets              TEXT NOT NULL, -- JSON list, sealed as a whole when a cipher is set
    state                TEXT NOT NULL,
    state_reason         TEXT NOT NULL DEFAULT '',
    state_changed_at     INTEGER,
    timeout_ns           INTEGER NOT NULL,
    retry_schedule       TEXT NOT NULL,
    max_in_flight        INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    last_delivery_at     INTEGER,
    last_status          INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    deleted_at           INTEGER
);
CREATE INDEX endpoints_tenant ON endpoints (tenant_id, id) WHERE deleted_at IS NULL;

CREATE TABLE events (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    type            TEXT NOT NULL,
    payload         BLOB NOT NULL,
    idempotency_key TEXT,
    origin          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    deliveries      INTEGER NOT NULL,
    first_seq       INTEGER, -- the event's deliveries are seq first_seq .. first_seq+deliveries-1
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX events_idempotency ON events (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- seq is the rowid: creation order, and per endpoint the FIFO position. The
-- store allocates it and encodes it in id (hookd.NewSeqID), so id needs no index.
CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    state           TEXT NOT NULL,
    done            INTEGER NOT NULL DEFAULT 0, -- 1 once succeeded, dead or cancelled
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER, -- when the next attempt is due
    manual          INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     INTEGER, -- while delivering: when the lease expires
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The work queue. Keyed on done rather than state, so that claiming (a state
-- change) does not touch the index; claimed rows stay in it and are skipped
-- while their lease holds.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE done = 0;
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, seq);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, seq);

-- Keyed by delivery and number: one B-tree insert per attempt.
CREATE TABLE attempts (
    delivery_id      TEXT NOT NULL,
    number           INTEGER NOT NULL,
    id               TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    trigger          TEXT NOT NULL,
    url              TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_ms      REAL NOT NULL,
    status_code      INTEGER NOT NULL,
    response_headers TEXT,
    response_body    TEXT NOT NULL,
    error            TEXT NOT NULL,
    error_class      TEXT NOT NULL,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
