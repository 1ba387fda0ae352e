-- Retention (Purge) walks events oldest first in pages keyed by
-- (created_at, tenant_id, id): created_at alone does not order a page
-- boundary, since the events of one publish share their time. Event ids
-- can be chosen by callers, so they say nothing about time. Building the
-- index holds off writes to events while it runs (migrations run in a
-- transaction, so not CONCURRENTLY); an operator may build it beforehand
-- with CREATE INDEX CONCURRENTLY under the same name (docs/MAINTENANCE.md).
CREATE INDEX IF NOT EXISTS events_created ON events (created_at, tenant_id, id);
