-- hookd's PostgreSQL schema. Times are timestamptz (microseconds); payloads
-- and bodies that must survive byte for byte are bytea; endpoint settings are
-- jsonb. Events, deliveries and attempts carry no foreign keys (each would
-- cost a trigger per inserted row on the publish path); DeleteTenant removes
-- them explicitly.

CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    tenant_id    text REFERENCES tenants (id) ON DELETE CASCADE,
    role         text NOT NULL,
    name         text NOT NULL,
    hash         text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE event_types (
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL,
    schema      text, -- JSON kept as written
    example     text,
    deprecated  boolean NOT NULL DEFAULT false,
    archived    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE endpoints (
    id                   text PRIMARY KEY,
    tenant_id            text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 text NOT NULL,
    description          text NOT NULL,
    url                  text NOT NULL,
    events               jsonb NOT NULL,
    headers              jsonb NOT NULL,
    signatures           jsonb NOT NULL,
    secrets              text NOT NULL, -- JSON list, sealed as a whole when a cipher is set
    state                text NOT NULL CHECK (state IN ('enabled', 'paused', 'disabled')),
    state_reason         text NOT NULL DEFAULT '',
    state_changed_at     timestamptz,
    timeout_ns           bigint NOT NULL,
    retry_schedule       jsonb NOT NULL,
    max_in_flight        integer NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    last_delivery_at     timestamptz,
    last_status          integer NOT NULL DEFAULT 0,
    consecutive_failures integer NOT NULL DEFAULT 0,
    deleted_at           timestamptz
);
CREATE INDEX endpoints_tenant ON endpoints (tenant_id, id) WHERE deleted_at IS NULL;

CREATE TABLE events (
    tenant_id       text NOT NULL,
    id              text NOT NULL,
    type            text NOT NULL,
    payload         bytea NOT NULL, -- byte for byte as published
    idempotency_key text,
    origin          text NOT NULL,
    created_at      timestamptz NOT NULL,
    deliveries      integer NOT NULL,
    -- The event's deliveries have ids in first_delivery..last_delivery (ids
    -- are made in order by one process), so they are found by a primary key
    -- range instead of an index on event_id.
    first_delivery  text,
    last_delivery   text,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX events_idempotency ON events (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The work queue. While a delivery is leased (state delivering),
-- next_attempt_at is its lease expiry, so an expired lease is simply due
-- again and one partial index serves every claim.
CREATE TABLE deliveries (
    id              text PRIMARY KEY,
    seq             bigserial NOT NULL, -- creation order; per endpoint the FIFO position
    tenant_id       text NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    endpoint_id     text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'delivering', 'succeeded', 'failed', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    manual          boolean NOT NULL DEFAULT false,
    lease_owner     text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'failed', 'delivering');
-- Leased deliveries per endpoint: the cluster-wide in-flight count.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id, next_attempt_at) WHERE state = 'delivering';
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, seq);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, seq);

CREATE TABLE attempts (
    delivery_id      text NOT NULL,
    number           integer NOT NULL,
    id               text NOT NULL,
    tenant_id        text NOT NULL,
    trigger          text NOT NULL,
    url              text NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      double precision NOT NULL,
    status_code      integer NOT NULL,
    response_headers text, -- JSON object
    response_body    bytea NOT NULL, -- as received (truncated by the dispatcher), any bytes
    error            text NOT NULL,
    error_class      text NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
