package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookd/hookd"
)

var _ hookd.OpsStore = (*Store)(nil)

// EndpointStats counts the attempts of live endpoints since f.Since
// (rounded down to a hookd.StatsBucket) from their stats slots.
func (s *Store) EndpointStats(ctx context.Context, f hookd.StatsFilter) (map[string]*hookd.EndpointStats, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	q := `SELECT st.tenant_id, st.endpoint_id, sum(st.succeeded), sum(st.failed)
		FROM endpoint_stats st JOIN endpoints e ON e.id = st.endpoint_id AND e.deleted_at IS NULL
		WHERE st.bucket >= $1 AND ($2 = '' OR st.tenant_id = $2)`
	args := []any{micro(f.Since.UTC().Truncate(hookd.StatsBucket)), f.TenantID}
	if len(f.EndpointIDs) > 0 {
		q += ` AND st.endpoint_id = ANY($3)`
		args = append(args, f.EndpointIDs)
	}
	rows, err := s.pool.Query(ctx, q+` GROUP BY st.tenant_id, st.endpoint_id`, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := collect(rows, func(r pgx.Row) (*hookd.EndpointStats, error) {
		st := &hookd.EndpointStats{}
		if err := r.Scan(&st.TenantID, &st.EndpointID, &st.Succeeded, &st.Failed); err != nil {
			return nil, err
		}
		st.SetRate()
		return st, nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	out := make(map[string]*hookd.EndpointStats, len(list))
	for _, st := range list {
		out[st.EndpointID] = st
	}
	return out, nil
}

// opsLockClass is the first key of the transaction-scoped advisory lock a
// recover or replay holds on its endpoint (the second is hashtext of the
// endpoint id), so that two replays of one endpoint cannot both add a
// delivery for the same event. Claims and publishes do not take it.
const opsLockClass = 0x686b6432 // "hkd2"

// opsEndpoint starts a recover or replay in tx: it locks the tenant row
// (FOR KEY SHARE, as a publish does, so DeleteEndpoint and DeleteTenant
// wait for it), takes the endpoint's opsLockClass lock, and returns the
// live endpoint, read after both locks; ENOTFOUND if there is none.
func (s *Store) opsEndpoint(ctx context.Context, tx pgx.Tx, tenantID, endpointID string) (*hookd.Endpoint, error) {
	var ep *hookd.Endpoint
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE`, tenantID)
	b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, opsLockClass, endpointID)
	b.Queue(`SELECT `+endpointColumns+` FROM endpoints WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`,
		endpointID, tenantID).QueryRow(func(r pgx.Row) error {
		var err error
		if ep, err = s.scanEndpoint(r, false); err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if ep == nil {
		return nil, hookd.Errorf(hookd.ENOTFOUND, "Endpoint not found.")
	}
	return ep, nil
}

// RecoverDeliveries makes the endpoint's failed and dead deliveries created
// in w due at now, as manual attempts (pending if never attempted, else
// failed), audited as endpoint.recover. Other nodes are woken when any was.
func (s *Store) RecoverDeliveries(ctx context.Context, tenantID, endpointID string, w hookd.Window, now time.Time) (int, error) {
	now = micro(now)
	n := 0
	err := s.changeTx(ctx, func(tx pgx.Tx, a *auditLog) error {
		n = 0
		if _, err := s.opsEndpoint(ctx, tx, tenantID, endpointID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'pending',
				next_attempt_at = $2, manual = true, updated_at = $2
			WHERE endpoint_id = $1 AND state IN ('failed', 'dead') AND created_at >= $3 AND created_at < $4`,
			endpointID, now, microCeil(w.Since), microCeil(w.Until))
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if a.on {
			a.record(tenantID, hookd.ActionEndpointRecover, hookd.ResourceEndpoint, endpointID, nil, windowSnapshot(w, n))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.wantNotify()
	}
	return n, nil
}

// windowSnapshot is the audit record of a recover or replay.
func windowSnapshot(w hookd.Window, n int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"since": w.Since.UTC(), "until": w.Until.UTC(), "deliveries": n})
	return b
}

// replayScanSQL reads the tenant's events created in [$3, $4), oldest
// first, each with its delivery to endpoint $2 if it has one: in the id
// range its row records, or listed in late_deliveries.
const replayScanSQL = `SELECT ev.id, ev.type, ev.payload, ev.idempotency_key, ev.origin, ev.created_at, ev.deliveries, x.id, x.state
	FROM events ev
	LEFT JOIN LATERAL (
		SELECT d.id, d.state FROM deliveries d
		WHERE d.id BETWEEN ev.first_delivery AND ev.last_delivery
		  AND d.tenant_id = ev.tenant_id AND d.event_id = ev.id AND d.endpoint_id = $2
		UNION ALL
		SELECT d.id, d.state FROM late_deliveries l JOIN deliveries d ON d.id = l.delivery_id
		WHERE l.tenant_id = ev.tenant_id AND l.event_id = ev.id AND d.endpoint_id = $2
		LIMIT 1
	) x ON true
	WHERE ev.tenant_id = $1 AND ev.created_at >= $3 AND ev.created_at < $4
	ORDER BY ev.created_at, ev.id`

// replayInsertSQL adds the new deliveries ($3, one per event of $2) of a
// replay and lists them in late_deliveries. The events are locked (FOR KEY
// SHARE) first: one that Purge deleted meanwhile gets none, and Purge
// skips the events locked here.
const replayInsertSQL = `WITH ev AS (
	SELECT e.id, e.type FROM events e WHERE e.tenant_id = $1 AND e.id = ANY($2::text[])
	FOR KEY SHARE
), dl AS (
	INSERT INTO deliveries (id, tenant_id, event_id, event_type, endpoint_id, state, next_attempt_at, manual, created_at, updated_at)
	SELECT x.id, $1, ev.id, ev.type, $4, 'pending', $5, true, $5, $5
	FROM unnest($3::text[], $2::text[]) AS x(id, event_id) JOIN ev ON ev.id = x.event_id
	ORDER BY x.id
	RETURNING id, event_id
)
INSERT INTO late_deliveries (tenant_id, event_id, delivery_id) SELECT $1, event_id, id FROM dl`

// ReplayEvents queues the tenant's events created in w that the endpoint
// wants (match, with the endpoint as it is now) again: finished deliveries
// (succeeded, failed, dead) keep their ids and are made due at now as
// manual attempts; events without a delivery to the endpoint get a new one,
// listed in late_deliveries. Deliveries pending or in flight are left
// alone. Audited as endpoint.replay; other nodes are woken when anything
// was queued.
func (s *Store) ReplayEvents(ctx context.Context, tenantID, endpointID string, w hookd.Window, match hookd.EndpointMatcher, now time.Time) (int, error) {
	if match == nil {
		match = hookd.MatchSubscribed
	}
	now = micro(now)
	n := 0
	err := s.changeTx(ctx, func(tx pgx.Tx, a *auditLog) error {
		n = 0
		ep, err := s.opsEndpoint(ctx, tx, tenantID, endpointID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, replayScanSQL, tenantID, endpointID, microCeil(w.Since), microCeil(w.Until))
		if err != nil {
			return err
		}
		var again, freshEvents []string
		for rows.Next() {
			ev := &hookd.Event{TenantID: tenantID}
			var payload []byte
			var key, did, state *string
			if err := rows.Scan(&ev.ID, &ev.Type, &payload, &key, &ev.Origin, &ev.CreatedAt, &ev.Deliveries, &did, &state); err != nil {
				rows.Close()
				return err
			}
			if key != nil {
				ev.IdempotencyKey = *key
			}
			ev.Payload, ev.CreatedAt = json.RawMessage(payload), ev.CreatedAt.UTC()
			if !match(ep, ev) {
				continue
			}
			switch {
			case did == nil:
				freshEvents = append(freshEvents, ev.ID)
			case *state == string(hookd.DeliverySucceeded) || *state == string(hookd.DeliveryFailed) || *state == string(hookd.DeliveryDead):
				again = append(again, *did)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		count := func(tag pgconn.CommandTag) error {
			n += int(tag.RowsAffected())
			return nil
		}
		b := &pgx.Batch{}
		if len(again) > 0 {
			b.Queue(`UPDATE deliveries SET state = 'pending',
					next_attempt_at = $2, manual = true, updated_at = $2
				WHERE id = ANY($1) AND state IN ('succeeded', 'failed', 'dead')`, again, now).Exec(count)
		}
		if len(freshEvents) > 0 {
			// Ids made in order, so the new deliveries' seqs follow the
			// events' order.
			ids := make([]string, len(freshEvents))
			for i := range ids {
				ids[i] = hookd.NewID(hookd.PrefixDelivery)
			}
			b.Queue(replayInsertSQL, tenantID, freshEvents, ids, endpointID, now).Exec(count)
		}
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
		if a.on {
			a.record(tenantID, hookd.ActionEndpointReplay, hookd.ResourceEndpoint, endpointID, nil, windowSnapshot(w, n))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.wantNotify()
	}
	return n, nil
}

// DisableFailingEndpoints disables the live, not yet disabled endpoints
// failing since failingSince or earlier with at least minFailures failures
// in a row, and returns them as they are now (with their secrets). The
// rows are locked in id order first, as completions lock them; the two
// statements are one implicit transaction.
func (s *Store) DisableFailingEndpoints(ctx context.Context, failingSince time.Time, minFailures int, reason string, now time.Time) ([]*hookd.Endpoint, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const failing = `deleted_at IS NULL AND state <> 'disabled' AND failing_since <= $1 AND consecutive_failures >= $2`
	var out []*hookd.Endpoint
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('hookd.failing', coalesce(array_agg(id), '{}')::text, true)
		FROM (SELECT id FROM endpoints WHERE `+failing+` ORDER BY id FOR NO KEY UPDATE) f`, micro(failingSince), minFailures)
	b.Queue(`UPDATE endpoints SET state = 'disabled', state_reason = $3, state_changed_at = $4, updated_at = $4
		WHERE id = ANY(current_setting('hookd.failing')::text[]) AND `+failing+`
		RETURNING `+endpointColumns+`, secrets`, micro(failingSince), minFailures, cleanText(reason), micro(now)).Query(func(rows pgx.Rows) error {
		var err error
		out, err = collect(rows, func(r pgx.Row) (*hookd.Endpoint, error) { return s.scanEndpoint(r, true) })
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.fail(err)
	}
	return out, nil
}

// Usage reports the unfinished deliveries and the size of the database
// (pg_database_size: every schema in it, indexes and TOAST included).
func (s *Store) Usage(ctx context.Context) (hookd.Usage, error) {
	var u hookd.Usage
	if s.closed.Load() {
		return u, errClosed
	}
	err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM deliveries WHERE state IN ('pending', 'failed', 'delivering')),
		pg_database_size(current_database())`).Scan(&u.Backlog, &u.DatabaseBytes)
	if err != nil {
		return hookd.Usage{}, s.fail(err)
	}
	return u, nil
}

// OpenAlert records a new incident unless one with a.Key is open (the
// partial unique index alerts_open), and reports whether it did.
func (s *Store) OpenAlert(ctx context.Context, a *hookd.Alert) (bool, error) {
	if s.closed.Load() {
		return false, errClosed
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO alerts (key, tenant_id, kind, subject, opened_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (key) WHERE resolved_at IS NULL DO NOTHING`,
		cleanText(a.Key), cleanText(a.TenantID), cleanText(a.Kind), cleanText(a.Subject), micro(a.Opened))
	if err != nil {
		return false, s.fail(err)
	}
	return tag.RowsAffected() == 1, nil
}

// ResolveAlert closes the open incident with key, if any, and reports
// whether there was one.
func (s *Store) ResolveAlert(ctx context.Context, key string, at time.Time) (bool, error) {
	if s.closed.Load() {
		return false, errClosed
	}
	tag, err := s.pool.Exec(ctx, `UPDATE alerts SET resolved_at = $2 WHERE key = $1 AND resolved_at IS NULL`, cleanText(key), micro(at))
	if err != nil {
		return false, s.fail(err)
	}
	return tag.RowsAffected() > 0, nil
}

// OpenAlerts returns the open incidents.
func (s *Store) OpenAlerts(ctx context.Context) ([]*hookd.Alert, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT key, tenant_id, kind, subject, opened_at FROM alerts WHERE resolved_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := collect(rows, func(r pgx.Row) (*hookd.Alert, error) {
		a := &hookd.Alert{}
		if err := r.Scan(&a.Key, &a.TenantID, &a.Kind, &a.Subject, &a.Opened); err != nil {
			return nil, err
		}
		a.Opened = a.Opened.UTC()
		return a, nil
	})
	return list, s.fail(err)
}

// PruneStats deletes the stats slots that start before before.
func (s *Store) PruneStats(ctx context.Context, before time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM endpoint_stats WHERE bucket < $1`, microCeil(before))
	if err != nil {
		return 0, s.fail(err)
	}
	return int(tag.RowsAffected()), nil
}

// microCeil rounds t up to what a timestamptz holds, in UTC: a stored time
// is before t exactly when it is before microCeil(t).
func microCeil(t time.Time) time.Time {
	m := micro(t)
	if m.Before(t) {
		m = m.Add(time.Microsecond)
	}
	return m
}
