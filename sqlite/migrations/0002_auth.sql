-- Tokens minted from API keys, and the audit log.
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

-- A token is a short-lived credential of its key; only its hash is kept.
-- Deleting the key (or its tenant) deletes its tokens.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_key ON tokens (key_id);
CREATE INDEX tokens_expiry ON tokens (expires_at);

-- One row per change made through the API. tenant_id is '' for changes
-- outside any tenant; there is no foreign key, DeleteTenant removes the
-- tenant's rows itself. before/after are JSON without secrets.
CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    at            INTEGER NOT NULL,
    key_id        TEXT NOT NULL,
    token_id      TEXT NOT NULL,
    role          TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    before        TEXT,
    after         TEXT
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
