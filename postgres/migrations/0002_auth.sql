-- Tokens minted from API keys, and the audit log.

-- A token is a short-lived credential of its key; only its hash is kept.
-- Deleting the key (or its tenant) deletes its tokens.
CREATE TABLE tokens (
    id         text PRIMARY KEY,
    key_id     text NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    hash       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX tokens_key ON tokens (key_id);
CREATE INDEX tokens_expiry ON tokens (expires_at);

-- One row per change made through the API. tenant_id is '' for changes
-- outside any tenant; there is no foreign key, DeleteTenant removes the
-- tenant's rows itself. before/after are JSON without secrets.
CREATE TABLE audit_log (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    at            timestamptz NOT NULL,
    key_id        text NOT NULL,
    token_id      text NOT NULL,
    role          text NOT NULL,
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    before        jsonb,
    after         jsonb
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
