package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// PublishEvents stores events of one tenant and their deliveries in one
// transaction: the tenant row is locked (FOR KEY SHARE, so a concurrent
// DeleteTenant or DeleteEndpoint waits), the tenant's endpoints are loaded
// once, and all events and all deliveries are inserted by a single
// statement from arrays. Events whose id or idempotency key exists already
// (in the database or earlier in the batch) create nothing and are filled
// from the first, with Duplicate set. With a handoff, new deliveries are
// leased to its owner up to handoff.Max and, per endpoint, up to what the
// endpoint's max_in_flight leaves free across the cluster. After the commit
// a NOTIFY tells other nodes when pending deliveries were created.
func (s *Store) PublishEvents(ctx context.Context, tenantID string, events []*hookd.Event, match hookd.EndpointMatcher, handoff *hookd.Handoff) ([]*hookd.ClaimedDelivery, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if match == nil {
		match = hookd.MatchSubscribed
	}
	now := s.clock()
	// Work on copies so a failed publish leaves the caller's events untouched.
	out := make([]hookd.Event, len(events))
	for i, in := range events {
		out[i] = *in
		out[i].TenantID = tenantID
	}

	var leased []*hookd.ClaimedDelivery
	pending := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		leased, pending = nil, 0
		var found bool
		b := &pgx.Batch{}
		b.Queue(`SELECT true FROM tenants WHERE id = $1 FOR KEY SHARE`, tenantID).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&found)
			if err == pgx.ErrNoRows {
				return nil
			}
			return err
		})
		// A separate statement, so its snapshot is taken after the lock.
		var endpoints []*hookd.Endpoint
		b.Queue(`SELECT `+endpointColumns+` FROM endpoints
			WHERE tenant_id = $1 AND deleted_at IS NULL AND state <> 'disabled' ORDER BY id`, tenantID).Query(func(rows pgx.Rows) error {
			var err error
			endpoints, err = collect(rows, func(r pgx.Row) (*hookd.Endpoint, error) { return s.scanEndpoint(r, false) })
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if !found {
			return hookd.Errorf(hookd.ENOTFOUND, "Tenant not found.")
		}

		plan := planPublish(out, endpoints, match)
		if handoff != nil && handoff.Max > 0 && len(plan.deliveries) > 0 {
			if err := s.planHandoff(ctx, tx, plan, endpoints, handoff, now); err != nil {
				return err
			}
		}
		inserted, seqs, err := s.insertPublished(ctx, tx, tenantID, out, plan, handoff, now)
		if err != nil {
			return err
		}
		// Events not inserted repeat one stored by an earlier publish.
		var repeats []int
		for _, i := range plan.fresh {
			if !inserted[out[i].ID] {
				repeats = append(repeats, i)
			}
		}
		if len(repeats) > 0 {
			if err := s.fillRepeats(ctx, tx, tenantID, out, repeats); err != nil {
				return err
			}
		}
		for _, i := range plan.fresh {
			if inserted[out[i].ID] {
				out[i].CreatedAt = now
			}
		}
		for _, i := range plan.copies {
			first := out[plan.copyOf[i]]
			out[i] = first
			out[i].Duplicate = true
		}
		for _, d := range plan.deliveries {
			if !inserted[d.eventID] {
				continue
			}
			if !d.leased {
				pending++
				continue
			}
			ev := &out[d.event]
			until := plan.until
			leased = append(leased, &hookd.ClaimedDelivery{
				Delivery: hookd.Delivery{ID: d.id, Seq: seqs[d.id], TenantID: tenantID, EventID: ev.ID, EventType: ev.Type,
					EndpointID: d.endpoint.ID, State: hookd.DeliveryDelivering, LeaseOwner: handoff.Owner,
					NextAttemptAt: &until, CreatedAt: now, UpdatedAt: now},
				EventCreatedAt: now, Payload: ev.Payload,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range events {
		*events[i] = out[i]
	}
	if pending > 0 {
		s.wantNotify()
	}
	return leased, nil
}

// publishPlan is what one PublishEvents call inserts.
type publishPlan struct {
	fresh      []int       // indexes of events that are new to this batch
	copies     []int       // indexes of in-batch repeats
	copyOf     map[int]int // repeat index -> first index
	deliveries []plannedDelivery
	until      time.Time // lease expiry of handed-off deliveries
}

type plannedDelivery struct {
	id       string
	event    int // index into the events
	eventID  string
	endpoint *hookd.Endpoint
	leased   bool
}

// planPublish assigns ids, resolves in-batch repeats and matches endpoints.
func planPublish(out []hookd.Event, endpoints []*hookd.Endpoint, match hookd.EndpointMatcher) *publishPlan {
	p := &publishPlan{copyOf: map[int]int{}}
	byID, byKey := map[string]int{}, map[string]int{}
	for i := range out {
		ev := &out[i]
		first, ok := -1, false
		if ev.ID != "" {
			first, ok = byID[ev.ID]
		}
		if !ok && ev.IdempotencyKey != "" {
			first, ok = byKey[ev.IdempotencyKey]
		}
		if ok {
			p.copies = append(p.copies, i)
			p.copyOf[i] = first
			continue
		}
		if ev.ID == "" {
			ev.ID = hookd.NewID(hookd.PrefixEvent)
		}
		if ev.Origin == "" {
			ev.Origin = hookd.OriginAPI
		}
		ev.Duplicate = false
		byID[ev.ID] = i
		if ev.IdempotencyKey != "" {
			byKey[ev.IdempotencyKey] = i
		}
		p.fresh = append(p.fresh, i)
		n := 0
		for _, ep := range endpoints {
			if match(ep, ev) {
				// Ids made in sequence by this process sort in sequence, so
				// an event's deliveries lie between its first and last id.
				p.deliveries = append(p.deliveries, plannedDelivery{id: hookd.NewID(hookd.PrefixDelivery), event: i, eventID: ev.ID, endpoint: ep})
				n++
			}
		}
		ev.Deliveries = n
	}
	return p
}

// handoffLockClass is the first key of the transaction-scoped advisory
// locks taken per endpoint (the second is hashtext of the endpoint id)
// while leasing deliveries, so that the count of an endpoint's leased
// deliveries a claim or publish reads cannot change until it commits.
const handoffLockClass = 0x686b6431 // "hkd1"

// planHandoff marks the deliveries to lease to the handoff's owner: only
// for enabled endpoints it accepts and whose in-flight limit has room, at
// most handoff.Max. Endpoints whose lock another claim or publish holds are
// left to the claimers.
func (s *Store) planHandoff(ctx context.Context, tx pgx.Tx, p *publishPlan, endpoints []*hookd.Endpoint, h *hookd.Handoff, now time.Time) error {
	p.until = micro(h.Until)
	var want []string
	seen := map[string]bool{}
	for _, d := range p.deliveries {
		ep := d.endpoint
		// A rate-limited endpoint's budget is spent by claims only.
		if ep.State != hookd.EndpointEnabled || ep.RateLimit > 0 || seen[ep.ID] {
			continue
		}
		seen[ep.ID] = true
		if h.Accept == nil || h.Accept(ep.ID) {
			want = append(want, ep.ID)
		}
	}
	if len(want) == 0 {
		return nil
	}
	room := map[string]int{}
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('hookd.locked', coalesce(array_agg(id), '{}')::text, true)
		FROM unnest($1::text[]) AS id WHERE pg_try_advisory_xact_lock($2, hashtext(id))`, want, handoffLockClass)
	// Counted by a later statement than the one that took the locks, so
	// every lease made under them by others has committed and is seen.
	b.Queue(`SELECT e.id, `+roomSQL+`
		FROM endpoints e WHERE e.id = ANY(current_setting('hookd.locked')::text[])`, now).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			room[id] = n
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	n := 0
	for k := range p.deliveries {
		d := &p.deliveries[k]
		if n == h.Max {
			break
		}
		if room[d.endpoint.ID] > 0 {
			room[d.endpoint.ID]--
			d.leased = true
			n++
		}
	}
	return nil
}

// publishSQL inserts the events and, for those new to the database (ON
// CONFLICT on the id or the idempotency key skips the others), their
// deliveries. It returns the inserted events' ids and the seqs of the
// leased deliveries.
const publishSQL = `WITH ev AS (
	INSERT INTO events (tenant_id, id, type, payload, idempotency_key, origin, created_at, deliveries, first_delivery, last_delivery)
	SELECT $1, x.id, x.type, x.payload, nullif(x.key, ''), x.origin, $2, x.n, nullif(x.first, ''), nullif(x.last, '')
	FROM unnest($3::text[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[])
		AS x(id, type, payload, key, origin, n, first, last)
	ON CONFLICT DO NOTHING
	RETURNING id
), dl AS (
	INSERT INTO deliveries (id, tenant_id, event_id, event_type, endpoint_id, state, next_attempt_at, lease_owner, created_at, updated_at)
	SELECT y.id, $1, y.event_id, y.event_type, y.endpoint_id,
		CASE WHEN y.leased THEN 'delivering' ELSE 'pending' END,
		CASE WHEN y.leased THEN $17::timestamptz ELSE $2 END,
		CASE WHEN y.leased THEN $16::text END,
		$2, $2
	FROM unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::bool[]) AS y(id, event_id, event_type, endpoint_id, leased)
	WHERE y.event_id IN (SELECT id FROM ev)
	RETURNING id, seq, state
)
SELECT id, 0::bigint, true FROM ev
UNION ALL
SELECT id, seq, false FROM dl WHERE state = 'delivering'`

// insertPublished runs publishSQL for the plan.
func (s *Store) insertPublished(ctx context.Context, tx pgx.Tx, tenantID string, evs []hookd.Event, p *publishPlan, h *hookd.Handoff, now time.Time) (inserted map[string]bool, seqs map[string]int64, err error) {
	n := len(p.fresh)
	ids, types, keys, origins := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	firsts, lasts := make([]string, n), make([]string, n)
	payloads, counts := make([][]byte, n), make([]int32, n)
	pos := make(map[int]int, n)
	for j, i := range p.fresh {
		ev := &evs[i]
		pos[i] = j
		ids[j], types[j], keys[j], origins[j] = ev.ID, ev.Type, ev.IdempotencyKey, ev.Origin
		payloads[j], counts[j] = []byte(ev.Payload), int32(ev.Deliveries)
	}
	m := len(p.deliveries)
	dIDs, dEvents, dTypes, dEndpoints, dLeased := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]bool, m)
	for k, d := range p.deliveries {
		j := pos[d.event]
		if firsts[j] == "" {
			firsts[j] = d.id
		}
		lasts[j] = d.id
		dIDs[k], dEvents[k], dTypes[k], dEndpoints[k], dLeased[k] = d.id, d.eventID, evs[d.event].Type, d.endpoint.ID, d.leased
	}
	var owner *string
	until := now
	if h != nil {
		owner, until = &h.Owner, p.until
	}
	rows, err := tx.Query(ctx, publishSQL, tenantID, now, ids, types, payloads, keys, origins, counts, firsts, lasts,
		dIDs, dEvents, dTypes, dEndpoints, dLeased, owner, until)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	inserted, seqs = make(map[string]bool, n), map[string]int64{}
	for rows.Next() {
		var id string
		var seq int64
		var isEvent bool
		if err := rows.Scan(&id, &seq, &isEvent); err != nil {
			return nil, nil, err
		}
		if isEvent {
			inserted[id] = true
		} else {
			seqs[id] = seq
		}
	}
	return inserted, seqs, rows.Err()
}

// fillRepeats fills events that repeat stored ones (by id, else by
// idempotency key) from what is stored, marking them Duplicate.
func (s *Store) fillRepeats(ctx context.Context, tx pgx.Tx, tenantID string, evs []hookd.Event, repeats []int) error {
	var ids, keys []string
	for _, i := range repeats {
		ids = append(ids, evs[i].ID)
		if evs[i].IdempotencyKey != "" {
			keys = append(keys, evs[i].IdempotencyKey)
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE tenant_id = $1 AND (id = ANY($2) OR idempotency_key = ANY($3))`, tenantID, ids, orEmpty(keys))
	if err != nil {
		return err
	}
	stored, err := collect(rows, scanEvent)
	if err != nil {
		return err
	}
	byID, byKey := map[string]*hookd.Event{}, map[string]*hookd.Event{}
	for _, ev := range stored {
		byID[ev.ID] = ev
		if ev.IdempotencyKey != "" {
			byKey[ev.IdempotencyKey] = ev
		}
	}
	for _, i := range repeats {
		first := byID[evs[i].ID]
		if first == nil && evs[i].IdempotencyKey != "" {
			first = byKey[evs[i].IdempotencyKey]
		}
		if first == nil {
			// The conflicting event vanished (its tenant is being deleted).
			return hookd.Errorf(hookd.ECONFLICT, "Event %q conflicts with an event being removed; retry.", evs[i].ID)
		}
		evs[i] = *first
		evs[i].Duplicate = true
	}
	return nil
}

const eventColumns = `tenant_id, id, type, payload, idempotency_key, origin, created_at, deliveries`

func scanEvent(row pgx.Row) (*hookd.Event, error) {
	var ev hookd.Event
	var payload []byte
	var key *string
	if err := row.Scan(&ev.TenantID, &ev.ID, &ev.Type, &payload, &key, &ev.Origin, &ev.CreatedAt, &ev.Deliveries); err != nil {
		return nil, err
	}
	if key != nil {
		ev.IdempotencyKey = *key
	}
	ev.Payload, ev.CreatedAt = json.RawMessage(payload), ev.CreatedAt.UTC()
	return &ev, nil
}

// FindEventByID returns one event with its payload; ENOTFOUND if none.
func (s *Store) FindEventByID(ctx context.Context, tenantID, id string) (*hookd.Event, error) {
	ev, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return ev, s.notFound(err, "Event")
}
