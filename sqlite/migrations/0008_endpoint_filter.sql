-- Outbound filters (issue #5): criteria over the event, kept as written.
ALTER TABLE endpoints ADD COLUMN filter TEXT;
