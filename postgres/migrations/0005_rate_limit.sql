-- Per-endpoint rate limits, held across nodes: each endpoint's budget is a
-- token bucket stored on its row and spent by the claim that leases its
-- deliveries (under the endpoint's advisory lock, see claimPickSQL).
ALTER TABLE endpoints
    ADD COLUMN rate_limit  double precision NOT NULL DEFAULT 0, -- deliveries per second; 0: none
    ADD COLUMN rate_tokens double precision, -- the budget at rate_at; NULL: full
    ADD COLUMN rate_at     timestamptz;

-- hookd_rate_budget is the budget at now: the bucket refills at rate per
-- second up to one second's worth (at least one delivery).
CREATE FUNCTION hookd_rate_budget(rate double precision, tokens double precision, at timestamptz, now timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT least(greatest(rate, 1),
        coalesce(tokens, greatest(rate, 1)) + greatest(extract(epoch FROM now - coalesce(at, now))::double precision, 0) * rate)
$$;
