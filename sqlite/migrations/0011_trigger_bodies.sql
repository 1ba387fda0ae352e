-- Trigger bodies get a table of their own. A trigger's row is rewritten
-- when the runner claims it and again when it is processed, and SQLite
-- rewrites a row whole, its overflow pages included: a 6 KB body was
-- written three times (and checkpointed as often). Now it is written once.
-- Measured in docs/PERFORMANCE.md ("Receiving").
CREATE TABLE trigger_bodies (
    trigger_id TEXT PRIMARY KEY REFERENCES triggers(id) ON DELETE CASCADE,
    body       BLOB NOT NULL -- kept byte-exact
);
INSERT INTO trigger_bodies (trigger_id, body) SELECT id, body FROM triggers;
ALTER TABLE triggers DROP COLUMN body;
