-- Deliveries per second an endpoint may be sent; 0: no limit. One process
-- serves a SQLite database, so the dispatcher paces in memory.
ALTER TABLE endpoints ADD COLUMN rate_limit REAL NOT NULL DEFAULT 0;
