-- Retention of triggers and runs (PurgeTriggers) walks triggers by age.
CREATE INDEX triggers_received ON triggers (received_at);
