package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/hookd/hookd"
)

var _ hookd.Purger = (*Store)(nil)

// Purge deletes a batch of old, finished events with their deliveries and
// attempts (see hookd.Purger).
//
// Events are walked in rowid order, which is insertion order: event ids
// may be chosen by callers, so they say nothing about time. The walk stops
// at the first event not older than req.Before (the end of the pass), so
// a pass never reads the recent part of the table. The examination (each
// event and the count of its unfinished deliveries, found by its seq range)
// runs on the read pool; only the deletion goes through the writer, where
// every candidate is checked again before it is deleted, so a delivery
// retried meanwhile keeps its event.
func (s *Store) Purge(ctx context.Context, req hookd.PurgeRequest) (hookd.PurgeResult, error) {
	var res hookd.PurgeResult
	limit := req.Limit
	if limit <= 0 {
		limit = hookd.DefaultPurgeLimit
	}
	var after int64
	if req.Cursor != "" {
		v, err := strconv.ParseInt(req.Cursor, 10, 64)
		if err != nil || v < 0 {
			return res, hookd.Errorf(hookd.EINVALID, "Invalid purge cursor.")
		}
		after = v
	}
	before := ns(req.Before)

	rows, err := s.read.QueryContext(ctx, `SELECT e.rowid, e.created_at, e.deliveries,
			(SELECT count(*) FROM deliveries d
			 WHERE d.seq BETWEEN e.first_seq AND e.first_seq + e.deliveries - 1 AND d.done = 0)
		FROM events e WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?`, after, limit)
	if err != nil {
		return res, translate(err)
	}
	var candidates []int64
	seen, last, ended := 0, after, false
	for rows.Next() {
		var rowid, created int64
		var deliveries, unfinished int
		if err := rows.Scan(&rowid, &created, &deliveries, &unfinished); err != nil {
			rows.Close()
			return res, translate(err)
		}
		seen++
		if created >= before {
			ended = true
			break
		}
		last = rowid
		if unfinished == 0 {
			candidates = append(candidates, rowid)
		} else {
			res.Kept++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, translate(err)
	}
	if !ended && seen == limit {
		res.Cursor = strconv.FormatInt(last, 10)
	}
	if len(candidates) == 0 {
		return res, nil
	}

	var done hookd.PurgeResult
	err = s.exec(ctx, func(w *writer) error {
		done = hookd.PurgeResult{}
		for _, rowid := range candidates {
			ok, err := purgeEvent(w, rowid, before, &done)
			if err != nil {
				return err
			}
			if !ok {
				done.Kept++
			}
		}
		return nil
	})
	if err != nil {
		return hookd.PurgeResult{}, err
	}
	res.Add(done)
	return res, nil
}

// purgeEvent deletes the event at rowid if it is still old and every one
// of its deliveries is finished, and reports whether it did. An event whose
// deliveries are not all where its row says they are is kept.
func purgeEvent(w *writer, rowid, before int64, res *hookd.PurgeResult) (bool, error) {
	var tenantID, id string
	var created int64
	var deliveries int
	var firstSeq *int64
	err := w.QueryRow(`SELECT tenant_id, id, created_at, deliveries, first_seq FROM events WHERE rowid = ?`, rowid).
		Scan(&tenantID, &id, &created, &deliveries, &firstSeq)
	if err != nil {
		return false, ignoreNoRows(err)
	}
	if created >= before {
		return false, nil
	}
	late, err := lateDeliveries(w, tenantID, id)
	if err != nil || late < 0 {
		return false, err
	}
	if deliveries > 0 {
		if firstSeq == nil {
			return false, nil
		}
		lo, hi := *firstSeq, *firstSeq+int64(deliveries)-1
		var found, finished int
		err := w.QueryRow(`SELECT count(*), coalesce(sum(done), 0) FROM deliveries
			WHERE seq BETWEEN ? AND ? AND tenant_id = ? AND event_id = ?`, lo, hi, tenantID, id).Scan(&found, &finished)
		if err != nil {
			return false, err
		}
		if found != deliveries || finished != found {
			return false, nil
		}
		r, err := w.Exec(`DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE seq BETWEEN ? AND ?)`, lo, hi)
		if err != nil {
			return false, err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return false, err
		}
		res.Attempts += int(n)
		if r, err = w.Exec(`DELETE FROM deliveries WHERE seq BETWEEN ? AND ?`, lo, hi); err != nil {
			return false, err
		}
		if n, err = r.RowsAffected(); err != nil {
			return false, err
		}
		res.Deliveries += int(n)
	}
	if late > 0 {
		if err := purgeLate(w, tenantID, id, res); err != nil {
			return false, err
		}
	}
	if _, err := w.Exec(`DELETE FROM events WHERE rowid = ?`, rowid); err != nil {
		return false, err
	}
	res.Events++
	return true, nil
}

// lateDeliveries returns how many late deliveries (see late_deliveries)
// the event has, or -1 if one of them is unfinished.
func lateDeliveries(w *writer, tenantID, eventID string) (int, error) {
	var found, finished int
	err := w.QueryRow(`SELECT count(*), coalesce(sum(d.done), 0) FROM late_deliveries l JOIN deliveries d ON d.seq = l.seq
		WHERE l.tenant_id = ? AND l.event_id = ?`, tenantID, eventID).Scan(&found, &finished)
	if err != nil {
		return 0, err
	}
	if finished != found {
		return -1, nil
	}
	return found, nil
}

// purgeLate deletes the event's late deliveries and their attempts.
func purgeLate(w *writer, tenantID, eventID string, res *hookd.PurgeResult) error {
	late := `SELECT seq FROM late_deliveries WHERE tenant_id = ? AND event_id = ?`
	r, err := w.Exec(`DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE seq IN (`+late+`))`, tenantID, eventID)
	if err != nil {
		return err
	}
	n, _ := r.RowsAffected()
	res.Attempts += int(n)
	if r, err = w.Exec(`DELETE FROM deliveries WHERE seq IN (`+late+`)`, tenantID, eventID); err != nil {
		return err
	}
	n, _ = r.RowsAffected()
	res.Deliveries += int(n)
	_, err = w.Exec(`DELETE FROM late_deliveries WHERE tenant_id = ? AND event_id = ?`, tenantID, eventID)
	return err
}

// ignoreNoRows turns "no rows" into nil: the row went away meanwhile.
func ignoreNoRows(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}
