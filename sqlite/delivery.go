package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hookd/hookd"
)

// ClaimDeliveries leases due deliveries of enabled endpoints, oldest due first.
func (s *Store) ClaimDeliveries(ctx context.Context, c hookd.Claim) ([]*hookd.ClaimedDelivery, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	exclude, err := json.Marshal(orEmpty(c.Exclude))
	if err != nil {
		return nil, err
	}
	var out []*hookd.ClaimedDelivery
	err = s.exec(ctx, func(w *writer) error {
		out = out[:0]
		leaseEnd := c.Now.Add(c.Lease)
		rows, err := w.Query(`UPDATE deliveries SET state = 'delivering', lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE seq IN (
				SELECT d.seq FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
				WHERE d.done = 0 AND d.next_attempt_at <= ?
				  AND (d.state != 'delivering' OR d.lease_until <= ?)
				  AND e.state = 'enabled' AND e.deleted_at IS NULL
				  AND d.endpoint_id NOT IN (SELECT value FROM json_each(?))
				ORDER BY d.next_attempt_at LIMIT ?)
			RETURNING `+deliveryColumns,
			c.Owner, ns(leaseEnd), ns(c.Now), ns(c.Now), ns(c.Now), string(exclude), c.Limit)
		if err != nil {
			return err
		}
		list, err := collect(rows, scanDelivery)
		if err != nil {
			return err
		}
		for _, d := range list {
			out = append(out, &hookd.ClaimedDelivery{Delivery: *d})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Payloads never change: read them outside the writer.
	type eventKey struct{ tenant, id string }
	events := map[eventKey]*hookd.Event{}
	for _, cd := range out {
		k := eventKey{cd.TenantID, cd.EventID}
		ev := events[k]
		if ev == nil {
			ev, err = scanEvent(s.read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE tenant_id = ? AND id = ?`, cd.TenantID, cd.EventID))
			if err != nil {
				// The deliveries are leased; their lease expires and they are claimed again.
				return nil, fmt.Errorf("claim: read event %s: %w", cd.EventID, translate(err))
			}
			events[k] = ev
		}
		cd.EventCreatedAt, cd.Payload = ev.CreatedAt, ev.Payload
	}
	return out, err
}

const deliveryColumns = `seq, id, tenant_id, event_id, event_type, endpoint_id, state, attempts, next_attempt_at, manual, lease_owner, created_at, updated_at, throttled`

func scanDelivery(row interface{ Scan(...any) error }) (*hookd.Delivery, error) {
	var d hookd.Delivery
	var state string
	var next sql.NullInt64
	var owner sql.NullString
	var created, updated int64
	if err := row.Scan(&d.Seq, &d.ID, &d.TenantID, &d.EventID, &d.EventType, &d.EndpointID, &state, &d.Attempts,
		&next, &d.Manual, &owner, &created, &updated, &d.Throttled); err != nil {
		return nil, err
	}
	d.State, d.LeaseOwner = hookd.DeliveryState(state), owner.String
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromNullNS(next), fromNS(created), fromNS(updated)
	return &d, nil
}

// CompleteDeliveries records attempt results in one transaction.
func (s *Store) CompleteDeliveries(ctx context.Context, results []*hookd.DeliveryResult) error {
	now := s.now().UTC()
	stale := make([]bool, len(results))
	err := s.exec(ctx, func(w *writer) error {
		// One statement moves every delivery whose lease is still held;
		// RETURNING tells which, the rest are stale.
		rows := make([]completion, len(results))
		for i, r := range results {
			seq, _ := hookd.SeqOfID(hookd.PrefixDelivery, r.DeliveryID)
			rows[i] = completion{Seq: seq, Owner: r.Owner, State: string(r.State)}
			if r.Throttled {
				rows[i].Throttled = 1
			}
			if r.State == hookd.DeliveryFailed {
				next := ns(r.NextAt)
				rows[i].Next = &next
			}
		}
		list, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		q, err := w.Query(`UPDATE deliveries SET state = json_extract(j.value, '$.s'), attempts = attempts + 1,
				throttled = throttled + coalesce(json_extract(j.value, '$.t'), 0),
				done = json_extract(j.value, '$.s') IN ('succeeded', 'dead'),
				next_attempt_at = json_extract(j.value, '$.n'), manual = 0, lease_owner = NULL, lease_until = NULL, updated_at = ?
			FROM json_each(?) j
			WHERE deliveries.seq = json_extract(j.value, '$.q') AND deliveries.state = 'delivering'
			  AND deliveries.lease_owner = json_extract(j.value, '$.o')
			RETURNING deliveries.id`, ns(now), string(list))
		if err != nil {
			return err
		}
		applied := map[string]bool{}
		for q.Next() {
			var id string
			if err := q.Scan(&id); err != nil {
				q.Close()
				return err
			}
			applied[id] = true
		}
		if err := q.Close(); err != nil {
			return err
		}
		for i, r := range results {
			if !applied[r.DeliveryID] {
				stale[i] = true
				continue
			}
			stale[i] = false
			a := &r.Attempt
			if a.ID == "" {
				a.ID = hookd.NewID(hookd.PrefixAttempt)
			}
			var headers any
			if len(a.ResponseHeaders) > 0 {
				b, _ := json.Marshal(a.ResponseHeaders)
				headers = string(b)
			}
			_, err = w.Exec(`INSERT INTO attempts (id, delivery_id, tenant_id, number, trigger, url, started_at, duration_ms,
					status_code, response_headers, response_body, error, error_class)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.ID, r.DeliveryID, r.TenantID, a.Number, a.Trigger, a.URL, ns(a.StartedAt), a.DurationMS,
				a.StatusCode, headers, a.ResponseBody, a.Error, a.ErrorClass)
			if err != nil {
				return err
			}
		}
		stats, order, slots := hookd.Outcomes(results, func(i int) bool { return !stale[i] })
		if err := addStats(w, slots); err != nil {
			return err
		}
		for _, id := range order {
			st := stats[id]
			_, err := w.Exec(`UPDATE endpoints SET last_delivery_at = ?, last_status = ?,
					consecutive_failures = CASE WHEN ? THEN ? ELSE consecutive_failures + ? END,
					failing_since = CASE WHEN ? THEN ? ELSE coalesce(failing_since, ?) END
				WHERE id = ?`,
				ns(st.Last.Attempt.StartedAt), st.Last.Attempt.StatusCode, st.Reset, st.Failures, st.Failures,
				st.Reset, nsPtr(st.FirstFailure), nsPtr(st.FirstFailure), id)
			if err != nil {
				return err
			}
			if st.Disable != "" {
				_, err := w.Exec(`UPDATE endpoints SET state = 'disabled', state_reason = ?, state_changed_at = ?, updated_at = ?
					WHERE id = ? AND state != 'disabled'`, st.Disable, ns(now), ns(now), id)
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, r := range results {
		r.Stale = stale[i]
	}
	return nil
}

// ReleaseDeliveries returns owner's leased deliveries to the queue, due at now.
func (s *Store) ReleaseDeliveries(ctx context.Context, owner string, ids []string, now time.Time) error {
	return s.updateLeased(ctx, owner, ids, `state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'failed' END,
		lease_owner = NULL, lease_until = NULL, next_attempt_at = ?, updated_at = ?`, ns(now), ns(now))
}

// updateLeased applies set (with its args) to the given deliveries that
// owner still holds.
func (s *Store) updateLeased(ctx context.Context, owner string, ids []string, set string, args ...any) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(seqsOf(ids))
	if err != nil {
		return err
	}
	return s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`UPDATE deliveries SET `+set+`
			WHERE seq IN (SELECT value FROM json_each(?)) AND state = 'delivering' AND lease_owner = ?`,
			append(args, string(list), owner)...)
		return err
	})
}

// ExtendLeases moves the lease expiry of owner's deliveries (all of them
// when ids is nil) to until.
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	if ids == nil {
		// Rare (a node's start): scan the due index, which holds every leased row.
		return s.exec(ctx, func(w *writer) error {
			_, err := w.Exec(`UPDATE deliveries SET lease_until = ?
				WHERE done = 0 AND state = 'delivering' AND lease_owner = ?`, ns(until), owner)
			return err
		})
	}
	return s.updateLeased(ctx, owner, ids, `lease_until = ?`, ns(until))
}

// RetryDelivery makes a delivery due now with a manual next attempt.
func (s *Store) RetryDelivery(ctx context.Context, tenantID, id string, now time.Time) (*hookd.Delivery, error) {
	var out *hookd.Delivery
	err := s.exec(ctx, func(w *writer) error {
		d, err := findDelivery(w, tenantID, id)
		if err != nil {
			return err
		}
		switch d.State {
		case hookd.DeliveryDelivering:
			return hookd.Errorf(hookd.ECONFLICT, "The delivery is being attempted right now.")
		case hookd.DeliveryCancelled:
			return hookd.Errorf(hookd.ECONFLICT, "The delivery was cancelled because its endpoint was deleted.")
		}
		before := hookd.Snapshot(ctx, d)
		state := hookd.DeliveryPending // waiting for the manual attempt
		if _, err := w.Exec(`UPDATE deliveries SET state = ?, done = 0, next_attempt_at = ?, manual = 1, updated_at = ? WHERE seq = ?`,
			string(state), ns(now), ns(now), d.Seq); err != nil {
			return err
		}
		t := now.UTC()
		d.State, d.NextAttemptAt, d.Manual, d.UpdatedAt = state, &t, true, t
		out = d
		return s.audit(ctx, w, tenantID, hookd.ActionDeliveryRetry, hookd.ResourceDelivery, id, before, hookd.Snapshot(ctx, d))
	})
	return out, err
}

// FindDeliveryByID returns a delivery with its attempt log.
func (s *Store) FindDeliveryByID(ctx context.Context, tenantID, id string) (*hookd.Delivery, error) {
	d, err := findDelivery(s.reader(ctx), tenantID, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, delivery_id, number, trigger, url, started_at, duration_ms, status_code,
			response_headers, response_body, error, error_class
		FROM attempts WHERE delivery_id = ? ORDER BY number`, d.ID)
	if err != nil {
		return nil, translate(err)
	}
	d.AttemptLog, err = collect(rows, scanAttempt)
	if err != nil {
		return nil, err
	}
	if d.AttemptLog == nil {
		d.AttemptLog = []*hookd.Attempt{}
	}
	return d, nil
}

func scanAttempt(row interface{ Scan(...any) error }) (*hookd.Attempt, error) {
	var a hookd.Attempt
	var started int64
	var headers sql.NullString
	if err := row.Scan(&a.ID, &a.DeliveryID, &a.Number, &a.Trigger, &a.URL, &started, &a.DurationMS, &a.StatusCode,
		&headers, &a.ResponseBody, &a.Error, &a.ErrorClass); err != nil {
		return nil, err
	}
	a.StartedAt = fromNS(started)
	if headers.Valid {
		_ = json.Unmarshal([]byte(headers.String), &a.ResponseHeaders)
	}
	return &a, nil
}

// FindDeliveries lists a tenant's deliveries, newest first.
func (s *Store) FindDeliveries(ctx context.Context, f hookd.DeliveryFilter) ([]*hookd.Delivery, string, error) {
	cond, args := "tenant_id = ?", []any{f.TenantID}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		seq, err := strconv.ParseInt(after, 10, 64)
		if err != nil {
			return nil, "", hookd.Errorf(hookd.EINVALID, "Invalid cursor.")
		}
		cond += ` AND seq < ?`
		args = append(args, seq)
	}
	if f.EndpointID != "" {
		cond += ` AND endpoint_id = ?`
		args = append(args, f.EndpointID)
	}
	if f.EventID != "" {
		// An event's deliveries have consecutive seqs, recorded on the event.
		var first sql.NullInt64
		var n int64
		err := s.read.QueryRowContext(ctx, `SELECT first_seq, deliveries FROM events WHERE tenant_id = ? AND id = ?`, f.TenantID, f.EventID).Scan(&first, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return []*hookd.Delivery{}, "", nil
		} else if err != nil {
			return nil, "", translate(err)
		}
		if !first.Valid {
			n = 0
		}
		cond += ` AND (seq BETWEEN ? AND ? OR seq IN (SELECT seq FROM late_deliveries WHERE tenant_id = ? AND event_id = ?)) AND event_id = ?`
		args = append(args, first.Int64, first.Int64+n-1, f.TenantID, f.EventID, f.EventID)
	}
	if f.State != "" {
		cond += ` AND state = ?`
		args = append(args, string(f.State))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+cond+` ORDER BY seq DESC LIMIT ?`, append(args, f.Size()+1)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, f.Size(), func(d *hookd.Delivery) string { return strconv.FormatInt(d.Seq, 10) })
	return list, next, nil
}

// findDelivery looks a delivery up by the seq its id encodes.
func findDelivery(q queryer, tenantID, id string) (*hookd.Delivery, error) {
	seq, ok := hookd.SeqOfID(hookd.PrefixDelivery, id)
	if !ok {
		return nil, hookd.Errorf(hookd.ENOTFOUND, "Delivery not found.")
	}
	d, err := scanDelivery(q.QueryRow(`SELECT `+deliveryColumns+` FROM deliveries WHERE seq = ? AND id = ? AND tenant_id = ?`, seq, id, tenantID))
	return d, notFound(err, "Delivery")
}

// seqsOf returns the seqs encoded in delivery ids, skipping malformed ones.
func seqsOf(ids []string) []int64 {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if seq, ok := hookd.SeqOfID(hookd.PrefixDelivery, id); ok {
			out = append(out, seq)
		}
	}
	return out
}

// completion is one delivery's new state, as CompleteDeliveries sends it to SQLite.
type completion struct {
	Seq   int64  `json:"q"`
	Owner string `json:"o"`
	State string `json:"s"`
	Next  *int64 `json:"n"`
	// Throttled is 1 for a throttling answer (counted apart).
	Throttled int `json:"t,omitempty"`
}
