package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/hookd/hookd"
)

// statsRow is one stats slot in the JSON handed to addStats.
type statsRow struct {
	Endpoint  string `json:"e"`
	Bucket    int64  `json:"b"`
	Tenant    string `json:"t"`
	Succeeded int    `json:"s"`
	Failed    int    `json:"f"`
}

// addStats adds attempt counts to their slots in one statement.
func addStats(w *writer, slots map[hookd.StatsKey]*hookd.StatsCount) error {
	if len(slots) == 0 {
		return nil
	}
	rows := make([]statsRow, 0, len(slots))
	for k, c := range slots {
		rows = append(rows, statsRow{Endpoint: k.EndpointID, Bucket: ns(k.Bucket), Tenant: c.TenantID, Succeeded: c.Succeeded, Failed: c.Failed})
	}
	list, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	_, err = w.Exec(`INSERT INTO endpoint_stats (endpoint_id, bucket, tenant_id, succeeded, failed)
		SELECT json_extract(j.value, '$.e'), json_extract(j.value, '$.b'), json_extract(j.value, '$.t'),
			json_extract(j.value, '$.s'), json_extract(j.value, '$.f')
		FROM json_each(?) j WHERE true
		ON CONFLICT (endpoint_id, bucket) DO UPDATE SET succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed`,
		string(list))
	return err
}

// EndpointStats counts the attempts of live endpoints since f.Since.
func (s *Store) EndpointStats(ctx context.Context, f hookd.StatsFilter) (map[string]*hookd.EndpointStats, error) {
	ids, err := json.Marshal(orEmpty(f.EndpointIDs))
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT st.tenant_id, st.endpoint_id, sum(st.succeeded), sum(st.failed)
		FROM endpoint_stats st JOIN endpoints e ON e.id = st.endpoint_id AND e.deleted_at IS NULL
		WHERE st.bucket >= ? AND (? = '' OR st.tenant_id = ?)
		  AND (? = 0 OR st.endpoint_id IN (SELECT value FROM json_each(?)))
		GROUP BY st.tenant_id, st.endpoint_id`,
		ns(f.Since.UTC().Truncate(hookd.StatsBucket)), f.TenantID, f.TenantID, len(f.EndpointIDs) > 0, string(ids))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := map[string]*hookd.EndpointStats{}
	for rows.Next() {
		st := &hookd.EndpointStats{}
		if err := rows.Scan(&st.TenantID, &st.EndpointID, &st.Succeeded, &st.Failed); err != nil {
			return nil, err
		}
		st.SetRate()
		out[st.EndpointID] = st
	}
	return out, translate(rows.Err())
}

// RecoverDeliveries makes the endpoint's failed and dead deliveries created
// in win due at now, as manual attempts.
func (s *Store) RecoverDeliveries(ctx context.Context, tenantID, endpointID string, win hookd.Window, now time.Time) (int, error) {
	n := 0
	err := s.execAlone(ctx, func(w *writer) error { // may touch a great many rows
		if _, err := s.findEndpoint(w, tenantID, endpointID); err != nil {
			return err
		}
		res, err := w.Exec(`UPDATE deliveries SET state = 'pending', done = 0,
				next_attempt_at = ?, manual = 1, updated_at = ?
			WHERE endpoint_id = ? AND state IN ('failed', 'dead') AND created_at >= ? AND created_at < ?`,
			ns(now), ns(now), endpointID, ns(win.Since), ns(win.Until))
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		n = int(k)
		return s.audit(ctx, w, tenantID, hookd.ActionEndpointRecover, hookd.ResourceEndpoint, endpointID, nil, windowSnapshot(win, n))
	})
	return n, err
}

// windowSnapshot is the audit record of a recover or replay.
func windowSnapshot(win hookd.Window, n int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"since": win.Since.UTC(), "until": win.Until.UTC(), "deliveries": n})
	return b
}

// eventDelivery is the delivery to one endpoint an event has, by the
// event's seq range and its late deliveries (seq 0: none).
const eventDelivery = `coalesce(
	(SELECT d.seq FROM deliveries d WHERE d.seq BETWEEN ev.first_seq AND ev.first_seq + ev.deliveries - 1 AND d.endpoint_id = ?1),
	(SELECT d.seq FROM late_deliveries l JOIN deliveries d ON d.seq = l.seq
	 WHERE l.tenant_id = ev.tenant_id AND l.event_id = ev.id AND d.endpoint_id = ?1), 0)`

// ReplayEvents queues the endpoint's events of win again: finished
// deliveries keep their ids, events without one get a new delivery. The
// window is read outside the writer (a scan of the tenant's events); the
// writer then re-checks each event's delivery by key, so a delivery made
// meanwhile is not made twice.
func (s *Store) ReplayEvents(ctx context.Context, tenantID, endpointID string, win hookd.Window, match hookd.EndpointMatcher, now time.Time) (int, error) {
	if match == nil {
		match = hookd.MatchSubscribed
	}
	ep, err := s.FindEndpointByID(ctx, tenantID, endpointID)
	if err != nil {
		return 0, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT ev.id, ev.type, ev.payload, ev.created_at FROM events ev
		WHERE ev.tenant_id = ? AND ev.created_at >= ? AND ev.created_at < ? ORDER BY ev.created_at`,
		tenantID, ns(win.Since), ns(win.Until))
	if err != nil {
		return 0, translate(err)
	}
	var wanted []*hookd.Event
	for rows.Next() {
		ev := &hookd.Event{TenantID: tenantID}
		var payload []byte
		var created int64
		if err := rows.Scan(&ev.ID, &ev.Type, &payload, &created); err != nil {
			rows.Close()
			return 0, translate(err)
		}
		ev.Payload, ev.CreatedAt = payload, fromNS(created)
		if match(ep, ev) {
			wanted = append(wanted, ev)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, translate(err)
	}
	n := 0
	err = s.execAlone(ctx, func(w *writer) error { // may write a great many rows
		n = 0
		if _, err := s.findEndpoint(w, tenantID, endpointID); err != nil {
			return err // deleted meanwhile
		}
		for _, ev := range wanted {
			var seq int64
			var exists int
			err := w.QueryRow(`SELECT 1, `+eventDelivery+` FROM events ev WHERE ev.tenant_id = ?2 AND ev.id = ?3`,
				endpointID, tenantID, ev.ID).Scan(&exists, &seq)
			if errors.Is(err, sql.ErrNoRows) {
				continue // purged meanwhile
			} else if err != nil {
				return err
			}
			if seq != 0 {
				res, err := w.Exec(`UPDATE deliveries SET state = 'pending', done = 0, next_attempt_at = ?, manual = 1, updated_at = ?
					WHERE seq = ? AND state IN ('succeeded', 'failed', 'dead')`, ns(now), ns(now), seq)
				if err != nil {
					return err
				}
				k, _ := res.RowsAffected()
				n += int(k)
				continue
			}
			seq = s.nextSeq
			s.nextSeq++
			_, err = w.Exec(`INSERT INTO deliveries (seq, id, tenant_id, event_id, event_type, endpoint_id, state,
					next_attempt_at, manual, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, 1, ?, ?)`,
				seq, hookd.NewSeqID(hookd.PrefixDelivery, seq), tenantID, ev.ID, ev.Type, endpointID, ns(now), ns(now), ns(now))
			if err != nil {
				return err
			}
			if _, err = w.Exec(`INSERT INTO late_deliveries (tenant_id, event_id, seq) VALUES (?, ?, ?)`, tenantID, ev.ID, seq); err != nil {
				return err
			}
			n++
		}
		return s.audit(ctx, w, tenantID, hookd.ActionEndpointReplay, hookd.ResourceEndpoint, endpointID, nil, windowSnapshot(win, n))
	})
	return n, err
}

// DisableFailingEndpoints disables endpoints failing since failingSince or
// earlier with at least minFailures failures in a row.
func (s *Store) DisableFailingEndpoints(ctx context.Context, failingSince time.Time, minFailures int, reason string, now time.Time) ([]*hookd.Endpoint, error) {
	var out []*hookd.Endpoint
	err := s.exec(ctx, func(w *writer) error {
		rows, err := w.Query(`UPDATE endpoints SET state = 'disabled', state_reason = ?, state_changed_at = ?, updated_at = ?
			WHERE deleted_at IS NULL AND state != 'disabled' AND failing_since <= ? AND consecutive_failures >= ?
			RETURNING `+endpointColumns, reason, ns(now), ns(now), ns(failingSince), minFailures)
		if err != nil {
			return err
		}
		out, err = collect(rows, s.scanEndpoint)
		return err
	})
	return out, err
}

// Usage reports the unfinished deliveries and the database file's size.
func (s *Store) Usage(ctx context.Context) (hookd.Usage, error) {
	var u hookd.Usage
	err := s.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM deliveries WHERE done = 0),
		(SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())`).Scan(&u.Backlog, &u.DatabaseBytes)
	return u, translate(err)
}

// OpenAlert records a new incident unless one with the same key is open.
func (s *Store) OpenAlert(ctx context.Context, a *hookd.Alert) (bool, error) {
	opened := false
	err := s.exec(ctx, func(w *writer) error {
		res, err := w.Exec(`INSERT INTO alerts (key, tenant_id, kind, subject, opened_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) WHERE resolved_at IS NULL DO NOTHING`, a.Key, a.TenantID, a.Kind, a.Subject, ns(a.Opened))
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		opened = k == 1
		return nil
	})
	return opened, err
}

// ResolveAlert closes the open incident with key.
func (s *Store) ResolveAlert(ctx context.Context, key string, at time.Time) (bool, error) {
	resolved := false
	err := s.exec(ctx, func(w *writer) error {
		res, err := w.Exec(`UPDATE alerts SET resolved_at = ? WHERE key = ? AND resolved_at IS NULL`, ns(at), key)
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		resolved = k == 1
		return nil
	})
	return resolved, err
}

// OpenAlerts returns the open incidents.
func (s *Store) OpenAlerts(ctx context.Context) ([]*hookd.Alert, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT key, tenant_id, kind, subject, opened_at FROM alerts WHERE resolved_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*hookd.Alert, error) {
		a := &hookd.Alert{}
		var opened int64
		if err := r.Scan(&a.Key, &a.TenantID, &a.Kind, &a.Subject, &opened); err != nil {
			return nil, err
		}
		a.Opened = fromNS(opened)
		return a, nil
	})
}

// PruneStats deletes stats slots older than before.
func (s *Store) PruneStats(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.exec(ctx, func(w *writer) error {
		res, err := w.Exec(`DELETE FROM endpoint_stats WHERE bucket < ?`, ns(before))
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		n = int(k)
		return nil
	})
	return n, err
}
