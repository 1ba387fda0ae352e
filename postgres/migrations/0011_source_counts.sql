-- Accepted requests are counted in one of several rows per source, not on
-- the source's own row: every accepted request updated that row, so every
-- request of a source waited for the row lock until the previous one's
-- commit, about 1,100 requests/s (docs/PERFORMANCE.md, "Receiving, session
-- 5"). A source's count is its own column plus its shards; last_request_at
-- likewise the latest of both. Refusals (rare) still count on the source.
CREATE TABLE source_counts (
    source_id       text NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    shard           smallint NOT NULL,
    accepted        bigint NOT NULL,
    last_request_at timestamptz NOT NULL,
    PRIMARY KEY (source_id, shard)
);
