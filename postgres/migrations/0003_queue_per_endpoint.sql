-- Claims read each enabled endpoint's oldest due rows (see claimPickSQL),
-- so the queue is indexed per endpoint; the global due index walked before
-- scanned the whole backlog whenever the endpoints at its head were full.
CREATE INDEX deliveries_queue ON deliveries (endpoint_id, next_attempt_at) WHERE state IN ('pending', 'failed', 'delivering');
DROP INDEX deliveries_due;
