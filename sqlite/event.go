package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/hookd/hookd"
)

// PublishEvents stores events and their deliveries in one transaction,
// leasing up to handoff.Max of the new deliveries to handoff.Owner.
func (s *Store) PublishEvents(ctx context.Context, tenantID string, events []*hookd.Event, match hookd.EndpointMatcher, handoff *hookd.Handoff) ([]*hookd.ClaimedDelivery, error) {
	if match == nil {
		match = hookd.MatchSubscribed
	}
	now := s.now().UTC()
	// Work on copies so a failed group leaves the caller's events untouched.
	out := make([]hookd.Event, len(events))
	var leased []*hookd.ClaimedDelivery
	var owner, until any
	if handoff != nil {
		owner, until = handoff.Owner, ns(handoff.Until)
	}
	err := s.exec(ctx, func(w *writer) error {
		leased = leased[:0]
		var one int
		if err := w.QueryRow(`SELECT 1 FROM tenants WHERE id = ?`, tenantID).Scan(&one); err != nil {
			return notFound(err, "Tenant")
		}
		endpoints, err := s.liveEndpoints(w, tenantID)
		if err != nil {
			return err
		}
		var targets []fanout
		byID := map[string]*hookd.Event{}
		byKey := map[string]*hookd.Event{}
		for i, in := range events {
			ev := &out[i]
			*ev = *in
			ev.TenantID = tenantID
			if first := repeatOf(byID, byKey, ev); first != nil {
				*ev = *first
				ev.Duplicate = true
				continue
			}
			if first, err := s.findRepeat(w, tenantID, ev); err != nil {
				return err
			} else if first != nil {
				*ev = *first
				ev.Duplicate = true
				continue
			}
			if ev.ID == "" {
				ev.ID = hookd.NewID(hookd.PrefixEvent)
			}
			if ev.Origin == "" {
				ev.Origin = hookd.OriginAPI
			}
			ev.CreatedAt = now
			targets = targets[:0]
			for _, ep := range endpoints {
				if match(ep, ev) {
					seq := s.nextSeq
					s.nextSeq++
					f := fanout{Endpoint: ep.ID, Seq: seq, ID: hookd.NewSeqID(hookd.PrefixDelivery, seq)}
					if handoff != nil && len(leased) < handoff.Max && ep.State == hookd.EndpointEnabled &&
						(handoff.Accept == nil || handoff.Accept(ep.ID)) {
						f.Leased = true
						leased = append(leased, &hookd.ClaimedDelivery{
							Delivery: hookd.Delivery{ID: f.ID, Seq: seq, TenantID: tenantID, EventID: ev.ID, EventType: ev.Type,
								EndpointID: ep.ID, State: hookd.DeliveryDelivering, LeaseOwner: handoff.Owner,
								NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now},
							EventCreatedAt: now, Payload: ev.Payload,
						})
					}
					targets = append(targets, f)
				}
			}
			ev.Deliveries = len(targets)
			if len(targets) > 0 {
				// One statement for the event's whole fan-out.
				list, err := json.Marshal(targets)
				if err != nil {
					return err
				}
				_, err = w.Exec(`INSERT INTO deliveries (seq, id, tenant_id, event_id, event_type, endpoint_id, state,
						lease_owner, lease_until, next_attempt_at, created_at, updated_at)
					SELECT json_extract(j.value, '$.q'), json_extract(j.value, '$.d'), ?, ?, ?, json_extract(j.value, '$.e'),
						CASE WHEN json_extract(j.value, '$.l') THEN 'delivering' ELSE 'pending' END,
						CASE WHEN json_extract(j.value, '$.l') THEN ? END, CASE WHEN json_extract(j.value, '$.l') THEN ? END,
						?, ?, ?
					FROM json_each(?) j`,
					tenantID, ev.ID, ev.Type, owner, until, ns(now), ns(now), ns(now), string(list))
				if err != nil {
					return err
				}
			}
			var key any
			if ev.IdempotencyKey != "" {
				key = ev.IdempotencyKey
			}
			var firstSeq any
			if len(targets) > 0 {
				firstSeq = targets[0].Seq
			}
			_, err := w.Exec(`INSERT INTO events (tenant_id, id, type, payload, idempotency_key, origin, created_at, deliveries, first_seq)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				tenantID, ev.ID, ev.Type, []byte(ev.Payload), key, ev.Origin, ns(now), ev.Deliveries, firstSeq)
			if err != nil {
				return err
			}
			byID[ev.ID] = ev
			if ev.IdempotencyKey != "" {
				byKey[ev.IdempotencyKey] = ev
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range events {
		*events[i] = out[i]
	}
	return leased, nil
}

// repeatOf finds an earlier event of the same batch with ev's id or key.
func repeatOf(byID, byKey map[string]*hookd.Event, ev *hookd.Event) *hookd.Event {
	if ev.ID != "" && byID[ev.ID] != nil {
		return byID[ev.ID]
	}
	if ev.IdempotencyKey != "" && byKey[ev.IdempotencyKey] != nil {
		return byKey[ev.IdempotencyKey]
	}
	return nil
}

// findRepeat returns a stored event with ev's id or idempotency key.
func (s *Store) findRepeat(q queryer, tenantID string, ev *hookd.Event) (*hookd.Event, error) {
	if ev.ID != "" {
		first, err := scanEvent(q.QueryRow(`SELECT `+eventColumns+` FROM events WHERE tenant_id = ? AND id = ?`, tenantID, ev.ID))
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return first, err
		}
	}
	if ev.IdempotencyKey != "" {
		first, err := scanEvent(q.QueryRow(`SELECT `+eventColumns+` FROM events WHERE tenant_id = ? AND idempotency_key = ?`, tenantID, ev.IdempotencyKey))
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return first, err
		}
	}
	return nil, nil
}

const eventColumns = `tenant_id, id, type, payload, idempotency_key, origin, created_at, deliveries`

func scanEvent(row interface{ Scan(...any) error }) (*hookd.Event, error) {
	var ev hookd.Event
	var payload []byte
	var key sql.NullString
	var created int64
	if err := row.Scan(&ev.TenantID, &ev.ID, &ev.Type, &payload, &key, &ev.Origin, &created, &ev.Deliveries); err != nil {
		return nil, err
	}
	ev.Payload, ev.IdempotencyKey, ev.CreatedAt = json.RawMessage(payload), key.String, fromNS(created)
	return &ev, nil
}

// FindEventByID returns one event with its payload; ENOTFOUND if none.
func (s *Store) FindEventByID(ctx context.Context, tenantID, id string) (*hookd.Event, error) {
	ev, err := scanEvent(s.read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return ev, notFound(err, "Event")
}

// fanout is one delivery to create: its endpoint and id.
type fanout struct {
	Endpoint string `json:"e"`
	Seq      int64  `json:"q"`
	ID       string `json:"d"`
	Leased   bool   `json:"l,omitempty"`
}
