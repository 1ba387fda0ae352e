package postgres

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hookd/hookd"
)

// A claim is two statements sent together (one round trip, one implicit
// transaction):
//
//  1. claimPickSQL computes the free slots of every enabled endpoint (its
//     max_in_flight minus its unexpired leases) that is not excluded, reads
//     each such endpoint's oldest due rows up to its free slots from the
//     per-endpoint queue index, and keeps the oldest of them all (a window
//     of twice the limit); takes a transaction-scoped advisory lock per
//     endpoint in the window (try-lock: an endpoint another claim or
//     publish is leasing for right now is left to it, never waited for);
//     picks up to the limit, oldest first; and stashes the picked ids in a
//     transaction-local setting. Its cost grows with the number of enabled
//     endpoints, never with the backlog: endpoints that are full, paused
//     or excluded cost one small count or nothing.
//  2. claimSQL locks the stashed rows FOR UPDATE SKIP LOCKED, recounts each
//     endpoint's unexpired leases, and leases what fits. Its snapshot is
//     taken after the locks were granted, so every lease another node made
//     for those endpoints has committed and is counted: max_in_flight holds
//     across nodes, not just per claim.
//
// A lease sets next_attempt_at to the lease expiry, so an expired lease is
// simply due again.
//
// An endpoint's leases are counted with the expiry test in the aggregate's
// FILTER, not in WHERE, so the count reads only the small deliveries_leased
// index whatever the statistics say.

const claimPickSQL = `WITH room AS (
	SELECT e.id, ` + roomSQL + ` AS room
	FROM endpoints e
	WHERE e.state = 'enabled' AND e.deleted_at IS NULL AND e.id <> ALL($2::text[])
), due AS (
	-- Per endpoint with free slots, its oldest due rows up to its room: an
	-- index range read each, however long the queues behind them are.
	SELECT d.id, d.endpoint_id, d.next_attempt_at
	FROM room r CROSS JOIN LATERAL (
		SELECT d.id, d.endpoint_id, d.next_attempt_at FROM deliveries d
		WHERE d.endpoint_id = r.id AND d.state IN ('pending', 'failed', 'delivering') AND d.next_attempt_at <= $1
		ORDER BY d.next_attempt_at
		LIMIT least(r.room, $4)
	) d
	WHERE r.room > 0
	ORDER BY d.next_attempt_at
	LIMIT $3
), locked AS MATERIALIZED (
	SELECT endpoint_id FROM (SELECT DISTINCT endpoint_id FROM due) e
	WHERE pg_try_advisory_xact_lock($5, hashtext(endpoint_id))
), picked AS (
	SELECT id FROM due JOIN locked USING (endpoint_id)
	ORDER BY next_attempt_at
	LIMIT $4
)
SELECT set_config('hookd.claim', coalesce((SELECT array_agg(id) FROM picked), '{}')::text, true)`

const claimSQL = `WITH cand AS (
	-- One primary key lookup per stashed id.
	-- OFFSET 0 keeps the state and due tests out of the locking subquery:
	-- given them, a planner with stale statistics walks the queue index
	-- for every id instead. A row that fails them after the lookup is one
	-- another claim took since the pick; it stays locked only until this
	-- transaction ends.
	SELECT d.id, d.endpoint_id, d.next_attempt_at
	FROM unnest(current_setting('hookd.claim')::text[]) AS s(id)
	CROSS JOIN LATERAL (
		SELECT d.id, d.endpoint_id, d.next_attempt_at, d.state FROM deliveries d
		WHERE d.id = s.id
		OFFSET 0
		FOR UPDATE SKIP LOCKED
	) d
	WHERE d.state IN ('pending', 'failed', 'delivering') AND d.next_attempt_at <= $1
), room AS MATERIALIZED (
	SELECT e.id, ` + roomSQL + ` AS room,
		CASE WHEN e.rate_limit > 0 THEN hookd_rate_budget(e.rate_limit, e.rate_tokens, e.rate_at, $1) END AS budget
	FROM endpoints e
	WHERE e.id IN (SELECT endpoint_id FROM cand) AND e.state = 'enabled' AND e.deleted_at IS NULL
), pick AS (
	SELECT c.id FROM (
		SELECT id, endpoint_id, row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rn FROM cand
	) c JOIN room r ON r.id = c.endpoint_id
	WHERE c.rn <= r.room
), claimed AS (
	UPDATE deliveries d SET state = 'delivering', lease_owner = $2, next_attempt_at = $3, updated_at = $1
	FROM pick WHERE d.id = pick.id
	RETURNING d.id, d.seq, d.tenant_id, d.event_id, d.event_type, d.endpoint_id, d.attempts, d.throttled, d.manual, d.created_at
), spent AS (
	-- Rate-limited endpoints pay for what was leased.
	UPDATE endpoints e SET rate_tokens = r.budget - c.n, rate_at = $1
	FROM room r JOIN (SELECT endpoint_id, count(*) AS n FROM claimed GROUP BY endpoint_id) c ON c.endpoint_id = r.id
	WHERE e.id = r.id AND r.budget IS NOT NULL
)
SELECT c.id, c.seq, c.tenant_id, c.event_id, c.event_type, c.endpoint_id, c.attempts, c.throttled, c.manual, c.created_at, ev.created_at,
	CASE WHEN row_number() OVER (PARTITION BY c.tenant_id, c.event_id ORDER BY c.id) = 1 THEN ev.payload END
FROM claimed c JOIN events ev ON ev.tenant_id = c.tenant_id AND ev.id = c.event_id
ORDER BY c.seq`

// ClaimDeliveries leases up to c.Limit due deliveries of enabled endpoints,
// oldest due first, never more for an endpoint than its max_in_flight
// minus its unexpired leases (counted across all nodes). c.Now is the clock
// for due-ness and the lease: claimed rows are leased until c.Now+c.Lease.
// Each event's payload is read once per claim and shared by its deliveries.
func (s *Store) ClaimDeliveries(ctx context.Context, c hookd.Claim) ([]*hookd.ClaimedDelivery, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	now := micro(c.Now)
	until := micro(c.Now.Add(c.Lease))
	var out []*hookd.ClaimedDelivery
	b := &pgx.Batch{}
	// Every set the claim handles is bounded (the scan window, the picked
	// ids), so nested loops over index lookups are right at any table size.
	// With stale statistics (a burst of publishes before autovacuum's
	// ANALYZE, or "now" past the histogram) the planner would rather read
	// every due row with a bitmap scan and sort it, or hash the whole queue;
	// these settings last until the claim's transaction ends.
	b.Queue(`SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_hashjoin', 'off', true),
		set_config('enable_mergejoin', 'off', true)`)
	b.Queue(claimPickSQL, now, orEmpty(c.Exclude), claimScan(c.Limit), c.Limit, handoffLockClass)
	b.Queue(claimSQL, now, c.Owner, until).Query(func(rows pgx.Rows) error {
		payloads := map[[2]string]json.RawMessage{}
		for rows.Next() {
			cd := &hookd.ClaimedDelivery{}
			var payload []byte
			if err := rows.Scan(&cd.ID, &cd.Seq, &cd.TenantID, &cd.EventID, &cd.EventType, &cd.EndpointID, &cd.Attempts,
				&cd.Throttled, &cd.Manual, &cd.CreatedAt, &cd.EventCreatedAt, &payload); err != nil {
				return err
			}
			key := [2]string{cd.TenantID, cd.EventID}
			if payload != nil {
				payloads[key] = json.RawMessage(payload)
			}
			cd.Payload = payloads[key]
			cd.State, cd.LeaseOwner = hookd.DeliveryDelivering, c.Owner
			cd.CreatedAt, cd.EventCreatedAt = cd.CreatedAt.UTC(), cd.EventCreatedAt.UTC()
			next := until
			cd.NextAttemptAt, cd.UpdatedAt = &next, now
			out = append(out, cd)
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.fail(err)
	}
	return out, nil
}

// roomSQL is how many more deliveries endpoint e may have leased at $1:
// its max_in_flight minus its unexpired leases, and for a rate-limited
// endpoint no more than its whole budget (hookd_rate_budget).
const roomSQL = `least(e.max_in_flight - (SELECT count(*) FILTER (WHERE l.next_attempt_at > $1) FROM deliveries l
		WHERE l.endpoint_id = e.id AND l.state = 'delivering'),
	CASE WHEN e.rate_limit > 0 THEN floor(hookd_rate_budget(e.rate_limit, e.rate_tokens, e.rate_at, $1))::int
		ELSE e.max_in_flight END)`

// claimScan is how many due rows the pick statement considers for a claim
// of limit: twice the limit leaves room for endpoints whose advisory lock
// is held by another claim or publish at the moment.
func claimScan(limit int) int { return max(64, 2*limit) }

// CompleteDeliveries records attempt results in one transaction. A result
// applies only while its delivery is still delivering and leased to
// r.Owner; otherwise it is marked Stale and nothing of it is written. For
// applied results it inserts the attempts (numbered from the delivery's
// attempt count, written back to r.Attempt.Number and ID), moves the
// deliveries (counting throttling answers apart), updates each endpoint's
// last delivery, status, failure count and failing_since once, disabling it
// when a result carries a DisableReason, and adds the attempts to the
// endpoints' stats slots. r.NextAt is written back as stored
// (microseconds). Afterwards a NOTIFY tells the nodes that endpoints have
// free slots again.
func (s *Store) CompleteDeliveries(ctx context.Context, results []*hookd.DeliveryResult) error {
	if len(results) == 0 {
		return nil
	}
	if s.closed.Load() {
		return errClosed
	}
	now := s.clock()
	n := len(results)
	ids, owners, states := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	nexts := make([]pgtype.Timestamptz, 0, n)
	throttled := make([]int32, 0, n)
	first := map[string]int{} // a delivery repeated in one call applies once
	for i, r := range results {
		if _, dup := first[r.DeliveryID]; dup {
			continue
		}
		first[r.DeliveryID] = i
		ids, owners, states = append(ids, r.DeliveryID), append(owners, r.Owner), append(states, string(r.State))
		next := pgtype.Timestamptz{}
		if r.State == hookd.DeliveryFailed {
			next = pgtype.Timestamptz{Time: micro(r.NextAt), Valid: true}
		}
		nexts = append(nexts, next)
		t := int32(0)
		if r.Throttled {
			t = 1
		}
		throttled = append(throttled, t)
	}
	applied := map[string]int{} // delivery id -> attempt number
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		clear(applied)
		rows, err := tx.Query(ctx, `UPDATE deliveries d SET state = x.state, attempts = d.attempts + 1,
				throttled = d.throttled + x.throttled, next_attempt_at = x.next, manual = false, lease_owner = NULL, updated_at = $5
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $6::int[]) AS x(id, owner, state, next, throttled)
			WHERE d.id = x.id AND d.state = 'delivering' AND d.lease_owner = x.owner
			RETURNING d.id, d.attempts`, ids, owners, states, nexts, now, throttled)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var number int
			if err := rows.Scan(&id, &number); err != nil {
				rows.Close()
				return err
			}
			applied[id] = number
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(applied) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		queueAttempts(b, results, first, applied)
		queueEndpointStats(b, results, first, applied, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		// Finished deliveries free their endpoints' slots: a hint to every
		// node that work held back by max_in_flight may be claimable now.
		s.wantNotify()
	}
	for i, r := range results {
		number, ok := applied[r.DeliveryID]
		r.Stale = !ok || first[r.DeliveryID] != i
		if !r.Stale {
			r.Attempt.Number = number
			if r.State == hookd.DeliveryFailed {
				r.NextAt = micro(r.NextAt)
			}
		}
	}
	return nil
}

// queueAttempts inserts the attempts of applied results in one statement.
func queueAttempts(b *pgx.Batch, results []*hookd.DeliveryResult, first map[string]int, applied map[string]int) {
	var (
		ids, deliveries, tenants, triggers, urls, headers, errs, classes []string
		numbers, statuses                                                []int32
		started                                                          []time.Time
		durations                                                        []float64
		bodies                                                           [][]byte
	)
	for i, r := range results {
		number, ok := applied[r.DeliveryID]
		if !ok || first[r.DeliveryID] != i {
			continue
		}
		a := &r.Attempt
		if a.ID == "" {
			a.ID = hookd.NewID(hookd.PrefixAttempt)
		}
		h := ""
		if len(a.ResponseHeaders) > 0 {
			j, _ := json.Marshal(a.ResponseHeaders)
			h = string(j)
		}
		ids, deliveries, tenants = append(ids, a.ID), append(deliveries, r.DeliveryID), append(tenants, r.TenantID)
		triggers, urls, headers = append(triggers, cleanText(a.Trigger)), append(urls, cleanText(a.URL)), append(headers, h)
		errs, classes = append(errs, cleanText(a.Error)), append(classes, cleanText(a.ErrorClass))
		numbers, statuses = append(numbers, int32(number)), append(statuses, int32(a.StatusCode))
		started, durations = append(started, micro(a.StartedAt)), append(durations, a.DurationMS)
		bodies = append(bodies, []byte(a.ResponseBody))
	}
	b.Queue(`INSERT INTO attempts (id, delivery_id, tenant_id, number, trigger, url, started_at, duration_ms, status_code,
			response_headers, response_body, error, error_class)
		SELECT x.id, x.delivery_id, x.tenant_id, x.number, x.trigger, x.url, x.started_at, x.duration_ms, x.status_code,
			nullif(x.headers, ''), x.body, x.error, x.class
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[], $8::float8[],
			$9::int[], $10::text[], $11::bytea[], $12::text[], $13::text[])
			AS x(id, delivery_id, tenant_id, number, trigger, url, started_at, duration_ms, status_code, headers, body, error, class)`,
		ids, deliveries, tenants, numbers, triggers, urls, started, durations, statuses, headers, bodies, errs, classes)
}

// queueEndpointStats updates each endpoint touched by applied results once
// (see hookd.Outcomes): the last result (in slice order) sets
// last_delivery_at and last_status; a success resets consecutive_failures
// to the failures after it and failing_since to the first of those (NULL
// if none), otherwise failing_since keeps its value or becomes the first
// failure; a DisableReason disables the endpoint. The rows are locked in id
// order first, so concurrent completions cannot deadlock on them. Then the
// attempts are added to their endpoints' stats slots in one statement; a
// slot is written only under its endpoint's lock, so that cannot deadlock
// either.
func queueEndpointStats(b *pgx.Batch, results []*hookd.DeliveryResult, first map[string]int, applied map[string]int, now time.Time) {
	stats, ids, slots := hookd.Outcomes(results, func(i int) bool {
		_, ok := applied[results[i].DeliveryID]
		return ok && first[results[i].DeliveryID] == i
	})
	n := len(ids)
	lastAt, statuses, resets, failures, disables := make([]time.Time, n), make([]int32, n), make([]bool, n), make([]int32, n), make([]string, n)
	firstFailures := make([]pgtype.Timestamptz, n)
	for i, id := range ids {
		st := stats[id]
		lastAt[i], statuses[i] = micro(st.Last.Attempt.StartedAt), int32(st.Last.Attempt.StatusCode)
		resets[i], failures[i], disables[i] = st.Reset, int32(st.Failures), cleanText(st.Disable)
		if st.FirstFailure != nil {
			firstFailures[i] = pgtype.Timestamptz{Time: micro(*st.FirstFailure), Valid: true}
		}
	}
	b.Queue(`SELECT 1 FROM endpoints WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids)
	b.Queue(`UPDATE endpoints e SET last_delivery_at = x.last_at, last_status = x.status,
			consecutive_failures = CASE WHEN x.reset THEN x.failures ELSE e.consecutive_failures + x.failures END,
			failing_since = CASE WHEN x.reset THEN x.first_failure ELSE coalesce(e.failing_since, x.first_failure) END,
			state = CASE WHEN x.disable <> '' THEN 'disabled' ELSE e.state END,
			state_reason = CASE WHEN x.disable <> '' AND e.state <> 'disabled' THEN x.disable ELSE e.state_reason END,
			state_changed_at = CASE WHEN x.disable <> '' AND e.state <> 'disabled' THEN $6 ELSE e.state_changed_at END,
			updated_at = CASE WHEN x.disable <> '' AND e.state <> 'disabled' THEN $6 ELSE e.updated_at END
		FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::bool[], $5::int[], $7::text[], $8::timestamptz[])
			AS x(id, last_at, status, reset, failures, disable, first_failure)
		WHERE e.id = x.id`, ids, lastAt, statuses, resets, failures, now, disables, firstFailures)
	queueStats(b, slots)
}

// queueStats adds attempt counts to their stats slots in one statement, in
// (endpoint, bucket) order.
func queueStats(b *pgx.Batch, slots map[hookd.StatsKey]*hookd.StatsCount) {
	if len(slots) == 0 {
		return
	}
	keys := make([]hookd.StatsKey, 0, len(slots))
	for k := range slots {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].EndpointID != keys[j].EndpointID {
			return keys[i].EndpointID < keys[j].EndpointID
		}
		return keys[i].Bucket.Before(keys[j].Bucket)
	})
	n := len(keys)
	endpoints, tenants, buckets := make([]string, n), make([]string, n), make([]time.Time, n)
	succeeded, failed := make([]int32, n), make([]int32, n)
	for i, k := range keys {
		c := slots[k]
		endpoints[i], tenants[i], buckets[i] = k.EndpointID, c.TenantID, micro(k.Bucket)
		succeeded[i], failed[i] = int32(c.Succeeded), int32(c.Failed)
	}
	b.Queue(`INSERT INTO endpoint_stats AS st (endpoint_id, bucket, tenant_id, succeeded, failed)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::int[])
		ON CONFLICT (endpoint_id, bucket) DO UPDATE SET succeeded = st.succeeded + excluded.succeeded, failed = st.failed + excluded.failed`,
		endpoints, buckets, tenants, succeeded, failed)
}

// ReleaseDeliveries returns owner's leased deliveries among ids to the
// queue, due at now (pending if never attempted, else failed). Deliveries
// owner no longer holds are left alone.
func (s *Store) ReleaseDeliveries(ctx context.Context, owner string, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if s.closed.Load() {
		return errClosed
	}
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'failed' END,
			lease_owner = NULL, next_attempt_at = $3, updated_at = $3
		WHERE id = ANY($1) AND state = 'delivering' AND lease_owner = $2`, ids, owner, micro(now))
	if err != nil {
		return s.fail(err)
	}
	if tag.RowsAffected() > 0 {
		s.wantNotify()
	}
	return nil
}

// ExtendLeases sets the lease expiry of the given deliveries that owner
// still holds to until; with nil ids, of every delivery owner holds. With
// until at or before now that frees them at once (a restarted node).
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	var err error
	if ids == nil {
		_, err = s.pool.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $2
			WHERE state = 'delivering' AND lease_owner = $1`, owner, micro(until))
	} else if len(ids) > 0 {
		_, err = s.pool.Exec(ctx, `UPDATE deliveries SET next_attempt_at = $3
			WHERE id = ANY($1) AND state = 'delivering' AND lease_owner = $2`, ids, owner, micro(until))
	}
	return s.fail(err)
}

// RetryDelivery makes a delivery due at now with its next attempt marked
// manual; ENOTFOUND if the tenant has no such delivery, ECONFLICT if it is
// being delivered or was cancelled.
func (s *Store) RetryDelivery(ctx context.Context, tenantID, id string, now time.Time) (*hookd.Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	now = micro(now)
	var d *hookd.Delivery
	err := s.change(ctx, func(q querier, a *auditLog) error {
		var before *hookd.Delivery
		if a.on {
			b, err := scanDelivery(q.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, id, tenantID))
			if err != nil && err != pgx.ErrNoRows {
				return err
			}
			before = b
		}
		var err error
		d, err = scanDelivery(q.QueryRow(ctx, `UPDATE deliveries SET state = 'pending', next_attempt_at = $3, manual = true, updated_at = $3
			WHERE id = $1 AND tenant_id = $2 AND state NOT IN ('delivering', 'cancelled')
			RETURNING `+deliveryColumns, id, tenantID, now))
		if err == pgx.ErrNoRows {
			return errNotRetried
		} else if err != nil {
			return err
		}
		a.record(tenantID, hookd.ActionDeliveryRetry, hookd.ResourceDelivery, id, a.snapshot(before), a.snapshot(d))
		return nil
	})
	if err == nil {
		s.wantNotify()
		return d, nil
	}
	if err != errNotRetried {
		return nil, err
	}
	cur, err := s.findDelivery(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if cur.State == hookd.DeliveryCancelled {
		return nil, hookd.Errorf(hookd.ECONFLICT, "The delivery was cancelled because its endpoint was deleted.")
	}
	return nil, hookd.Errorf(hookd.ECONFLICT, "The delivery is being attempted right now.")
}

// errNotRetried tells RetryDelivery that no row was made due; it then
// finds out why.
var errNotRetried = &hookd.Error{Code: hookd.ECONFLICT, Message: "The delivery cannot be retried now."}

const deliveryColumns = `id, seq, tenant_id, event_id, event_type, endpoint_id, state, attempts, next_attempt_at, manual,
	lease_owner, created_at, updated_at, throttled`

func scanDelivery(row pgx.Row) (*hookd.Delivery, error) {
	var d hookd.Delivery
	var state string
	var owner *string
	if err := row.Scan(&d.ID, &d.Seq, &d.TenantID, &d.EventID, &d.EventType, &d.EndpointID, &state, &d.Attempts,
		&d.NextAttemptAt, &d.Manual, &owner, &d.CreatedAt, &d.UpdatedAt, &d.Throttled); err != nil {
		return nil, err
	}
	if owner != nil {
		d.LeaseOwner = *owner
	}
	d.State, d.NextAttemptAt = hookd.DeliveryState(state), utcPtr(d.NextAttemptAt)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

func (s *Store) findDelivery(ctx context.Context, tenantID, id string) (*hookd.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	return d, s.notFound(err, "Delivery")
}

// FindDeliveryByID returns the delivery with its attempt log, ordered by
// attempt number; ENOTFOUND if the tenant has no such delivery.
func (s *Store) FindDeliveryByID(ctx context.Context, tenantID, id string) (*hookd.Delivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	var d *hookd.Delivery
	var log []*hookd.Attempt
	b := &pgx.Batch{}
	b.Queue(`SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1 AND tenant_id = $2`, id, tenantID).QueryRow(func(r pgx.Row) error {
		var err error
		d, err = scanDelivery(r)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	b.Queue(`SELECT id, delivery_id, number, trigger, url, started_at, duration_ms, status_code, response_headers,
			response_body, error, error_class
		FROM attempts WHERE delivery_id = $1 AND tenant_id = $2 ORDER BY number`, id, tenantID).Query(func(rows pgx.Rows) error {
		var err error
		log, err = collect(rows, scanAttempt)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.fail(err)
	}
	if d == nil {
		return nil, hookd.Errorf(hookd.ENOTFOUND, "Delivery not found.")
	}
	d.AttemptLog = log
	return d, nil
}

func scanAttempt(row pgx.Row) (*hookd.Attempt, error) {
	var a hookd.Attempt
	var headers *string
	var body []byte
	if err := row.Scan(&a.ID, &a.DeliveryID, &a.Number, &a.Trigger, &a.URL, &a.StartedAt, &a.DurationMS, &a.StatusCode,
		&headers, &body, &a.Error, &a.ErrorClass); err != nil {
		return nil, err
	}
	a.StartedAt, a.ResponseBody = a.StartedAt.UTC(), string(body)
	if headers != nil {
		_ = json.Unmarshal([]byte(*headers), &a.ResponseHeaders)
	}
	return &a, nil
}

// FindDeliveries lists a tenant's deliveries, newest (highest seq) first.
// The cursor encodes the last seq of the page.
func (s *Store) FindDeliveries(ctx context.Context, f hookd.DeliveryFilter) ([]*hookd.Delivery, string, error) {
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var before int64 = 1<<63 - 1
	if after != "" {
		if before, err = strconv.ParseInt(after, 10, 64); err != nil {
			return nil, "", hookd.Errorf(hookd.EINVALID, "Invalid cursor.")
		}
	}
	var q string
	args := []any{f.TenantID, before, string(f.State), f.Size() + 1}
	switch {
	case f.EventID != "":
		// An event's deliveries lie in the id range its row records, and
		// those added later are listed in late_deliveries (UNION: a late
		// id may fall into the range).
		q = `SELECT ` + deliveryColumns + ` FROM (
				SELECT d.* FROM deliveries d
				WHERE d.id BETWEEN (SELECT first_delivery FROM events WHERE tenant_id = $1 AND id = $5)
				               AND (SELECT last_delivery FROM events WHERE tenant_id = $1 AND id = $5)
				  AND d.tenant_id = $1 AND d.event_id = $5
				UNION
				SELECT d.* FROM late_deliveries l JOIN deliveries d ON d.id = l.delivery_id
				WHERE l.tenant_id = $1 AND l.event_id = $5 AND d.tenant_id = $1
			) d
			WHERE d.seq < $2 AND ($3 = '' OR d.state = $3) AND ($6 = '' OR d.endpoint_id = $6)
			ORDER BY d.seq DESC LIMIT $4`
		args = append(args, f.EventID, f.EndpointID)
	case f.EndpointID != "":
		q = `SELECT ` + deliveryColumns + ` FROM deliveries
			WHERE endpoint_id = $5 AND tenant_id = $1 AND seq < $2 AND ($3 = '' OR state = $3)
			ORDER BY seq DESC LIMIT $4`
		args = append(args, f.EndpointID)
	default:
		q = `SELECT ` + deliveryColumns + ` FROM deliveries
			WHERE tenant_id = $1 AND seq < $2 AND ($3 = '' OR state = $3)
			ORDER BY seq DESC LIMIT $4`
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, f.Size(), func(d *hookd.Delivery) string { return strconv.FormatInt(d.Seq, 10) })
	return list, next, nil
}
