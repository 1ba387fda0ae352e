package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

var _ hookd.Purger = (*Store)(nil)

// purgeSelect examines the next events of a pass, oldest first (index
// events_created), with the deliveries each has where its row says (the
// primary key range first_delivery..last_delivery) and those added later
// (late_deliveries): how many there should be (the row's count plus the
// late ones), how many were found, how many are unfinished, and their ids.
// purgeFirstSQL starts a pass; purgeNextSQL goes on after the cursor
// ($2..$4).
const purgeSelect = `SELECT e.tenant_id, e.id, e.created_at, e.deliveries + c.late, c.found, c.unfinished, c.ids
	FROM events e
	CROSS JOIN LATERAL (
		SELECT count(*) AS found, count(*) FILTER (WHERE d.state IN ('pending', 'failed', 'delivering')) AS unfinished,
			coalesce(array_agg(d.id), '{}') AS ids,
			(SELECT count(*) FROM late_deliveries l WHERE l.tenant_id = e.tenant_id AND l.event_id = e.id) AS late
		FROM (
			SELECT d.id, d.state FROM deliveries d
			WHERE d.id BETWEEN e.first_delivery AND e.last_delivery AND d.event_id = e.id AND d.tenant_id = e.tenant_id
			UNION -- a late delivery's id may fall into the range
			SELECT d.id, d.state FROM late_deliveries l JOIN deliveries d ON d.id = l.delivery_id
			WHERE l.tenant_id = e.tenant_id AND l.event_id = e.id
		) d
	) c
	WHERE e.created_at < $1 `

const (
	purgeFirstSQL = purgeSelect + `ORDER BY e.created_at, e.tenant_id, e.id LIMIT $2`
	purgeNextSQL  = purgeSelect + `AND (e.created_at, e.tenant_id, e.id) > ($2, $3, $4)
	ORDER BY e.created_at, e.tenant_id, e.id LIMIT $5`
)

// purgeCandidate is an examined event that looked finished.
type purgeCandidate struct {
	tenantID, id string
	deliveries   int      // how many it should have, late ones included
	ids          []string // its deliveries
}

// Purge deletes a batch of old, finished events with their deliveries and
// attempts, in one transaction (see hookd.Purger). It never waits for a
// row lock: events and deliveries locked by another transaction (a retry,
// a tenant being deleted) are skipped and their event kept for a later
// pass, so a purge neither stalls delivery nor deadlocks with it. Each
// candidate is re-checked under its locks before it is deleted. Rows are
// found and locked by primary key only, so the plans do not depend on
// statistics.
func (s *Store) Purge(ctx context.Context, req hookd.PurgeRequest) (hookd.PurgeResult, error) {
	var res hookd.PurgeResult
	if s.closed.Load() {
		return res, errClosed
	}
	limit := req.Limit
	if limit <= 0 {
		limit = hookd.DefaultPurgeLimit
	}
	cur, err := decodePurgeCursor(req.Cursor)
	if err != nil {
		return res, err
	}
	before := micro(req.Before)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		res = hookd.PurgeResult{}
		// The scan's cost is estimated far above what it does (a range
		// per event), which would make every batch pay for JIT compiling.
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
			return err
		}
		var rows pgx.Rows
		var err error
		if cur == nil {
			rows, err = tx.Query(ctx, purgeFirstSQL, before, limit)
		} else {
			rows, err = tx.Query(ctx, purgeNextSQL, before, cur.At, cur.TenantID, cur.ID, limit)
		}
		if err != nil {
			return err
		}
		var cands []purgeCandidate
		var last purgeCursor
		seen := 0
		for rows.Next() {
			var c purgeCandidate
			var found, unfinished int
			if err := rows.Scan(&c.tenantID, &c.id, &last.At, &c.deliveries, &found, &unfinished, &c.ids); err != nil {
				rows.Close()
				return err
			}
			seen++
			last.TenantID, last.ID = c.tenantID, c.id
			if unfinished == 0 && found == c.deliveries {
				cands = append(cands, c)
			} else {
				res.Kept++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if seen == limit {
			res.Cursor = last.encode()
		}
		if len(cands) == 0 {
			return nil
		}
		return s.purgeCandidates(ctx, tx, cands, before, &res)
	})
	if err != nil {
		return hookd.PurgeResult{}, err
	}
	return res, nil
}

// purgeCandidates locks the candidates and their deliveries (skipping
// anything locked), re-checks them, and deletes those still old and
// finished with their deliveries, attempts and late_deliveries rows. An
// event's deliveries are made with it and removed only with it, except
// that a replay may add late ones; it does so under a lock on the event
// (see replayInsertSQL), so once the event is locked here its late
// deliveries are read again and an event that gained one is kept. The
// check of the deliveries makes sure none was retried or replayed
// meanwhile.
func (s *Store) purgeCandidates(ctx context.Context, tx pgx.Tx, cands []purgeCandidate, before time.Time, res *hookd.PurgeResult) error {
	n := len(cands)
	tenants, ids := make([]string, n), make([]string, n)
	var dids []string
	for i, c := range cands {
		tenants[i], ids[i] = c.tenantID, c.id
		dids = append(dids, c.ids...)
	}
	locked := map[eventKey]bool{} // events locked and still old
	rows, err := tx.Query(ctx, `SELECT e.tenant_id, e.id FROM events e
		WHERE (e.tenant_id, e.id) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND e.created_at < $3
		FOR UPDATE OF e SKIP LOCKED`, tenants, ids, before)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k eventKey
		if err := rows.Scan(&k.tenantID, &k.id); err != nil {
			rows.Close()
			return err
		}
		locked[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	if len(locked) > 0 {
		// Read after the events were locked: a replay that added a late
		// delivery to one of them has committed and is seen.
		late, err := lateDeliveries(ctx, tx, locked)
		if err != nil {
			return err
		}
		for _, c := range cands {
			k := eventKey{c.tenantID, c.id}
			if !locked[k] || len(late[k]) == 0 {
				continue
			}
			known := map[string]bool{}
			for _, id := range c.ids {
				known[id] = true
			}
			for _, id := range late[k] {
				if !known[id] {
					delete(locked, k)
					break
				}
			}
		}
	}

	finished := map[string]bool{} // deliveries locked and finished
	if len(dids) > 0 {
		rows, err = tx.Query(ctx, `SELECT id FROM deliveries
			WHERE id = ANY($1) AND state IN ('succeeded', 'dead', 'cancelled')
			FOR UPDATE SKIP LOCKED`, dids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			finished[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}

	var delTenants, delIDs, delDeliveries []string
	for _, c := range cands {
		ok := locked[eventKey{c.tenantID, c.id}]
		for _, id := range c.ids {
			ok = ok && finished[id]
		}
		if !ok {
			res.Kept++ // retried, gone, or locked by someone else meanwhile
			continue
		}
		delTenants, delIDs = append(delTenants, c.tenantID), append(delIDs, c.id)
		delDeliveries = append(delDeliveries, c.ids...)
	}
	if len(delIDs) == 0 {
		return nil
	}
	if len(delDeliveries) > 0 {
		tag, err := tx.Exec(ctx, `DELETE FROM attempts WHERE delivery_id = ANY($1)`, delDeliveries)
		if err != nil {
			return err
		}
		res.Attempts = int(tag.RowsAffected())
		if tag, err = tx.Exec(ctx, `DELETE FROM deliveries WHERE id = ANY($1)`, delDeliveries); err != nil {
			return err
		}
		res.Deliveries = int(tag.RowsAffected())
	}
	_, err = tx.Exec(ctx, `DELETE FROM late_deliveries WHERE (tenant_id, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
		delTenants, delIDs)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM events WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, delTenants, delIDs)
	if err != nil {
		return err
	}
	res.Events = int(tag.RowsAffected())
	return nil
}

// eventKey is an event's primary key.
type eventKey struct{ tenantID, id string }

// lateDeliveries returns the ids in late_deliveries of the given events.
func lateDeliveries(ctx context.Context, tx pgx.Tx, events map[eventKey]bool) (map[eventKey][]string, error) {
	var tenants, ids []string
	for k := range events {
		tenants, ids = append(tenants, k.tenantID), append(ids, k.id)
	}
	rows, err := tx.Query(ctx, `SELECT tenant_id, event_id, delivery_id FROM late_deliveries
		WHERE (tenant_id, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, tenants, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[eventKey][]string{}
	for rows.Next() {
		var tenantID, eventID, id string
		if err := rows.Scan(&tenantID, &eventID, &id); err != nil {
			return nil, err
		}
		k := eventKey{tenantID, eventID}
		out[k] = append(out[k], id)
	}
	return out, rows.Err()
}

// purgeCursor is the last event a Purge examined.
type purgeCursor struct {
	At       time.Time `json:"t"`
	TenantID string    `json:"n"`
	ID       string    `json:"i"`
}

func (c purgeCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePurgeCursor(s string) (*purgeCursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c purgeCursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.At.IsZero() {
		return nil, hookd.Errorf(hookd.EINVALID, "Invalid purge cursor.")
	}
	c.At = micro(c.At)
	return &c, nil
}
