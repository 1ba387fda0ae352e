package sqlite

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// Storing the triggers of a commit group together.
//
// Receiving webhooks, the writer's group is mostly CreateTrigger requests.
// Run one by one, each costs a savepoint and its release, a look-up of its
// delivery id, an update of its source's counters and two single-row
// inserts: about ten statements, each with the fixed cost of a statement
// through database/sql. storeTriggers runs them as a batch in one
// savepoint: per source one existence check, one look-up of the batch's
// delivery ids and one counter update, then multi-row inserts. Measured in
// docs/PERFORMANCE.md ("Receiving, session 5").
//
// Each request's outcome is the one it would have had on its own, run in
// group order: a missing source fails only its triggers, and a delivery id
// repeated within the group answers the later request with the earlier
// trigger. Anything else that goes wrong (a constraint, a caller's id that
// exists) rolls the batch back, and the requests run one by one.

// maxInsertRows is the most rows one multi-row INSERT takes. Statements
// are prepared for powers of two up to it, so that a few are reused.
const maxInsertRows = 64

// storeTriggers stores the triggers of group[idx...] as one batch, setting
// their errors in errs. It reports false, with nothing written and errs
// untouched, when the batch failed as a whole and its requests must run one
// by one; fatal is an error that leaves the transaction unusable.
func (s *Store) storeTriggers(w *writer, group []*writeReq, idx []int, errs []error) (ok bool, fatal error) {
	batch := make([]*triggerWrite, len(idx))
	for k, i := range idx {
		batch[k] = group[i].trigger
	}
	var failed []error
	err, fatal := w.savepoint(func() (err error) {
		failed, err = storeTriggerBatch(w, batch)
		return err
	})
	if err != nil || fatal != nil {
		for _, tw := range batch {
			tw.first = nil
		}
		return false, fatal
	}
	for k, i := range idx {
		errs[i] = failed[k]
	}
	return true, nil
}

// sourceCount is what a batch adds to one source's counters.
type sourceCount struct {
	sourceID string
	tenantID string
	found    bool
	accepted int
	last     time.Time
}

// storeTriggerBatch stores batch, returning each trigger's error (a
// missing source); duplicates get their first trigger in tw.first. An
// error returned on its own means the batch must be rolled back.
func storeTriggerBatch(w *writer, batch []*triggerWrite) ([]error, error) {
	failed := make([]error, len(batch))
	sources := map[string]*sourceCount{}
	for _, tw := range batch {
		c := &tw.t
		if c.SourceID == "" || sources[tw.sourceKey()] != nil {
			continue
		}
		sc := &sourceCount{sourceID: c.SourceID, tenantID: c.TenantID}
		var one int
		err := w.QueryRow(`SELECT 1 FROM sources WHERE id = ? AND tenant_id = ?`, c.SourceID, c.TenantID).Scan(&one)
		if err == nil {
			sc.found = true
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		sources[tw.sourceKey()] = sc
	}
	stored, err := storedDeliveries(w, batch, sources)
	if err != nil {
		return nil, err
	}
	seen := map[string]*triggerWrite{} // stored in this batch, by delivery key
	insert := make([]*triggerWrite, 0, len(batch))
	for k, tw := range batch {
		c := &tw.t
		var sc *sourceCount
		if c.SourceID != "" {
			if sc = sources[tw.sourceKey()]; !sc.found {
				failed[k] = errSourceNotFound
				continue
			}
		}
		key := tw.deliveryKey()
		if key != "" {
			if earlier := seen[key]; earlier != nil && earlier.t.ReceivedAt.After(c.ReceivedAt.Add(-tw.window)) {
				first := earlier.t
				tw.first = &first
				continue
			}
			var first *hookd.Trigger
			if c.SourceID == "" {
				first, err = tw.repeated(w)
			} else if d := stored.first(c.SourceID, c.DeliveryID, c.ReceivedAt.Add(-tw.window)); d != nil && d.tenantID == c.TenantID {
				first, err = findTrigger(w, d.tenantID, d.id)
			}
			if err != nil {
				return nil, err
			}
			if first != nil {
				tw.first = first
				continue
			}
			seen[key] = tw
		}
		if sc != nil {
			sc.accepted++
			if c.ReceivedAt.After(sc.last) {
				sc.last = c.ReceivedAt
			}
		}
		insert = append(insert, tw)
	}
	for _, sc := range sources {
		if sc.accepted == 0 {
			continue
		}
		_, err := w.Exec(`UPDATE sources SET accepted = accepted + ?, last_request_at = max(coalesce(last_request_at, ?), ?)
			WHERE id = ? AND tenant_id = ?`, sc.accepted, ns(sc.last), ns(sc.last), sc.sourceID, sc.tenantID)
		if err != nil {
			return nil, err
		}
	}
	if err := insertRows(w, insert, "triggers ("+triggerInsertColumns+")", "("+triggerInsertValues+")",
		func(args []any, tw *triggerWrite) []any { return tw.insertArgs(args) }); err != nil {
		return nil, err
	}
	err = insertRows(w, insert, "trigger_bodies (trigger_id, body)", "(?, ?)",
		func(args []any, tw *triggerWrite) []any { return append(args, tw.t.ID, tw.body) })
	return failed, err
}

// storedDelivery is a stored trigger of a source, found by delivery id.
type storedDelivery struct {
	id, tenantID string
	received     int64
}

// deliveryIndex holds stored triggers by source and delivery id, oldest
// first.
type deliveryIndex map[[2]string][]storedDelivery

// first returns the oldest trigger of the source with the delivery id
// received after since, or nil: what triggerWrite.repeated finds.
func (x deliveryIndex) first(sourceID, delivery string, since time.Time) *storedDelivery {
	for i, d := range x[[2]string{sourceID, delivery}] {
		if d.received > ns(since) {
			return &x[[2]string{sourceID, delivery}][i]
		}
	}
	return nil
}

// storedDeliveries looks up, with one statement per source, the stored
// triggers that the batch's delivery ids may repeat (those received
// within the longest window of the batch's triggers of that source).
func storedDeliveries(w *writer, batch []*triggerWrite, sources map[string]*sourceCount) (deliveryIndex, error) {
	type lookup struct {
		ids   []string
		since time.Time
	}
	bySource := map[string]*lookup{}
	for _, tw := range batch {
		c := &tw.t
		if c.SourceID == "" || tw.deliveryKey() == "" || !sources[tw.sourceKey()].found {
			continue
		}
		l := bySource[c.SourceID]
		if l == nil {
			l = &lookup{since: c.ReceivedAt.Add(-tw.window)}
			bySource[c.SourceID] = l
		}
		l.ids = append(l.ids, c.DeliveryID)
		if since := c.ReceivedAt.Add(-tw.window); since.Before(l.since) {
			l.since = since
		}
	}
	out := deliveryIndex{}
	for sourceID, l := range bySource {
		ids, err := marshalText(l.ids)
		if err != nil {
			return nil, err
		}
		rows, err := w.Query(`SELECT id, tenant_id, delivery_id, received_at FROM triggers
			WHERE source_id = ? AND delivery_id IN (SELECT value FROM json_each(?)) AND received_at > ?
			ORDER BY received_at`, sourceID, ids, ns(l.since))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var d storedDelivery
			var delivery string
			if err := rows.Scan(&d.id, &d.tenantID, &delivery, &d.received); err != nil {
				rows.Close()
				return nil, err
			}
			key := [2]string{sourceID, delivery}
			out[key] = append(out[key], d)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sourceKey names tw's source within its tenant, for storeTriggerBatch's
// counts.
func (tw *triggerWrite) sourceKey() string { return tw.t.SourceID + "\x00" + tw.t.TenantID }

// deliveryKey is what tw's delivery id is unique within ("" when it is not
// checked): its source, or its tenant and generic name.
func (tw *triggerWrite) deliveryKey() string {
	c := &tw.t
	if c.DeliveryID == "" || tw.window <= 0 {
		return ""
	}
	if c.SourceID != "" {
		return "s\x00" + c.SourceID + "\x00" + c.DeliveryID
	}
	return "n\x00" + c.TenantID + "\x00" + c.Name + "\x00" + c.DeliveryID
}

// insertRows inserts one row per item into table (its name and columns),
// each row's placeholders being values, in statements of up to
// maxInsertRows rows.
func insertRows[T any](w *writer, items []T, table, values string, args func([]any, T) []any) error {
	var buf []any
	for len(items) > 0 {
		n := maxInsertRows
		for n > len(items) {
			n /= 2
		}
		buf = buf[:0]
		for _, it := range items[:n] {
			buf = args(buf, it)
		}
		q := "INSERT INTO " + table + " VALUES " + values + strings.Repeat(", "+values, n-1)
		if _, err := w.Exec(q, buf...); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// processBatch is ProcessTriggers' work as one batch, in a savepoint: one
// statement marks every trigger whose lease owner holds processed (the
// others are lost, ECONFLICT, as one by one), one per distinct number of
// runs counts them, and multi-row inserts store the runs. It reports
// false, with nothing written and lost untouched, when the batch failed as
// a whole and the triggers must be processed one by one; an error returned
// leaves the transaction unusable.
func processBatch(w *writer, owner string, prepared []*processing, lost map[string]error) (bool, error) {
	if len(prepared) == 0 {
		return true, nil
	}
	var got map[string]string
	err, fatal := w.savepoint(func() (err error) {
		got, err = processRows(w, owner, prepared)
		return err
	})
	if err != nil || fatal != nil {
		return false, fatal
	}
	for _, p := range prepared {
		if _, ok := got[p.triggerID]; !ok {
			lost[p.triggerID] = errLeaseLost
		}
	}
	return true, nil
}

var errLeaseLost = hookd.Errorf(hookd.ECONFLICT, "The trigger's lease was lost; it will be processed again.")

// processRows writes processBatch's rows and returns the tenant of each
// trigger marked processed.
func processRows(w *writer, owner string, prepared []*processing) (map[string]string, error) {
	ids := make([]string, len(prepared))
	for i, p := range prepared {
		ids[i] = p.triggerID
	}
	list, err := marshalText(ids)
	if err != nil {
		return nil, err
	}
	now := prepared[0].now
	rows, err := w.Query(`UPDATE triggers SET processed_at = ?, lease_owner = NULL, lease_until = NULL
		WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND processed_at IS NULL
		RETURNING id, tenant_id`, ns(now), list, owner)
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	for rows.Next() {
		var id, tenant string
		if err := rows.Scan(&id, &tenant); err != nil {
			rows.Close()
			return nil, err
		}
		got[id] = tenant
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	byCount := map[int][]string{}
	var runs []*processedRun
	for _, p := range prepared {
		tenant, ok := got[p.triggerID]
		if !ok || len(p.stored) == 0 {
			continue
		}
		byCount[len(p.stored)] = append(byCount[len(p.stored)], p.triggerID)
		for i := range p.stored {
			p.stored[i].TenantID = tenant
			runs = append(runs, &processedRun{p: p, i: i})
		}
	}
	for n, ids := range byCount {
		list, err := marshalText(ids)
		if err != nil {
			return nil, err
		}
		if _, err := w.Exec(`UPDATE triggers SET runs = runs + ? WHERE id IN (SELECT value FROM json_each(?))`, n, list); err != nil {
			return nil, err
		}
	}
	err = insertRows(w, runs, "runs ("+runInsertColumns+")", "("+runInsertValues+")",
		func(args []any, r *processedRun) []any { return r.p.insertArgs(args, r.i) })
	return got, err
}

// processedRun is run i of a processing.
type processedRun struct {
	p *processing
	i int
}
