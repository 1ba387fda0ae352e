package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// The retention tests set the clock through Purge's Before: events are
// "old" when created before it. Times of events come from the store.

func purger(t *testing.T, s hookd.Store) hookd.Purger {
	t.Helper()
	p, ok := s.(hookd.Purger)
	if !ok {
		t.Fatalf("%T does not implement hookd.Purger", s)
	}
	return p
}

// waitPast returns once the wall clock is past at (a few microseconds at
// most), so that events published next are created after at.
func waitPast(at time.Time) {
	for !time.Now().After(at.Add(time.Microsecond)) {
		time.Sleep(10 * time.Microsecond)
	}
}

// completeAll records one result in state for each claimed delivery.
func completeAll(t *testing.T, s hookd.Store, owner string, cds []*hookd.ClaimedDelivery, state hookd.DeliveryState, at time.Time) {
	t.Helper()
	rs := make([]*hookd.DeliveryResult, len(cds))
	for i, cd := range cds {
		status := 200
		if state != hookd.DeliverySucceeded {
			status = 500
		}
		rs[i] = result(cd, owner, state, status, at)
	}
	must(t, s.CompleteDeliveries(ctx, rs))
	for _, r := range rs {
		if r.Stale {
			t.Fatalf("result for %s is stale", r.DeliveryID)
		}
	}
}

func wantPurged(t *testing.T, got, want hookd.PurgeResult) {
	t.Helper()
	got.Cursor, want.Cursor = "", ""
	if got != want {
		t.Fatalf("purge = %+v, want %+v", got, want)
	}
}

func wantGone(t *testing.T, s hookd.Store, tenantID string, eventIDs []string, deliveryIDs []string) {
	t.Helper()
	for _, id := range eventIDs {
		_, err := s.FindEventByID(ctx, tenantID, id)
		wantCode(t, err, hookd.ENOTFOUND)
	}
	for _, id := range deliveryIDs {
		_, err := s.FindDeliveryByID(ctx, tenantID, id)
		wantCode(t, err, hookd.ENOTFOUND)
	}
}

// deliveriesOf returns the ids of an event's deliveries.
func deliveriesOf(t *testing.T, s hookd.Store, tenantID, eventID string) []string {
	t.Helper()
	list, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: tenantID, EventID: eventID})
	must(t, err)
	ids := make([]string, len(list))
	for i, d := range list {
		ids[i] = d.ID
	}
	return ids
}

// byEvent picks the claimed deliveries of the given events.
func byEvent(cds []*hookd.ClaimedDelivery, eventIDs ...string) []*hookd.ClaimedDelivery {
	var out []*hookd.ClaimedDelivery
	for _, cd := range cds {
		for _, id := range eventIDs {
			if cd.EventID == id {
				out = append(out, cd)
			}
		}
	}
	return out
}

// Old events whose deliveries are all finished go with their deliveries
// and attempts, in every tenant; an old event with an unfinished delivery
// and recent events stay whole.
func testPurge(t *testing.T, s hookd.Store) {
	p := purger(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	endpoint(t, s, "acme", "invoice.*")
	endpoint(t, s, "acme", "invoice.paid", "user.*")
	epB := endpoint(t, s, "beta", "order.*")

	// Old events. Ids chosen by the caller sort after the recent one's:
	// retention must go by time, not by id.
	done := &hookd.Event{ID: "zz-done", Type: "invoice.paid", Payload: json.RawMessage(`{}`)} // 2 deliveries, finished
	open := &hookd.Event{ID: "zz-open", Type: "user.created", Payload: json.RawMessage(`{}`)} // 1 delivery, left failed
	cancelled := &hookd.Event{Type: "order.created", Payload: json.RawMessage(`{}`)}          // cancelled with its endpoint
	bare := &hookd.Event{Type: "misc", Payload: json.RawMessage(`{}`)}                        // no deliveries at all
	must(t, publishErr(s.PublishEvents(ctx, "acme", []*hookd.Event{done, open}, hookd.MatchSubscribed, nil)))
	must(t, publishErr(s.PublishEvents(ctx, "beta", []*hookd.Event{cancelled, bare}, hookd.MatchSubscribed, nil)))
	if done.Deliveries != 2 || open.Deliveries != 1 || cancelled.Deliveries != 1 || bare.Deliveries != 0 {
		t.Fatalf("fan-out: %d %d %d %d", done.Deliveries, open.Deliveries, cancelled.Deliveries, bare.Deliveries)
	}
	doneIDs, openIDs, cancelledIDs := deliveriesOf(t, s, "acme", done.ID), deliveriesOf(t, s, "acme", open.ID), deliveriesOf(t, s, "beta", cancelled.ID)

	at := future()
	first := claim(t, s, "n1", at, 10, epB.ID)
	if len(first) != 3 {
		t.Fatalf("claimed %d, want 3", len(first))
	}
	doneClaims := byEvent(first, done.ID)
	completeAll(t, s, "n1", doneClaims[:1], hookd.DeliverySucceeded, at)
	completeAll(t, s, "n1", append(doneClaims[1:], byEvent(first, open.ID)...), hookd.DeliveryFailed, at)
	at2 := at.Add(2 * time.Minute)
	second := claim(t, s, "n1", at2, 10, epB.ID)
	if len(second) != 2 {
		t.Fatalf("retry claim got %d, want 2", len(second))
	}
	completeAll(t, s, "n1", byEvent(second, done.ID), hookd.DeliveryDead, at2)
	completeAll(t, s, "n1", byEvent(second, open.ID), hookd.DeliveryFailed, at2)
	must(t, s.DeleteEndpoint(ctx, "beta", epB.ID))

	// A recent event, finished too.
	waitPast(bare.CreatedAt)
	recent := &hookd.Event{ID: "aa-recent", Type: "invoice.paid", Payload: json.RawMessage(`{}`)}
	must(t, publishErr(s.PublishEvents(ctx, "acme", []*hookd.Event{recent}, hookd.MatchSubscribed, nil)))
	if !recent.CreatedAt.After(bare.CreatedAt) {
		t.Fatalf("recent event created at %v, not after %v", recent.CreatedAt, bare.CreatedAt)
	}
	completeAll(t, s, "n1", byEvent(claim(t, s, "n1", future(), 10), recent.ID), hookd.DeliverySucceeded, future())

	// Events created before the recent one are old.
	cutoff := recent.CreatedAt
	res, err := p.Purge(ctx, hookd.PurgeRequest{Before: cutoff, Limit: 100})
	must(t, err)
	// zz-done: 2 deliveries, 3 attempts; the cancelled: 1 delivery; bare: none.
	wantPurged(t, res, hookd.PurgeResult{Events: 3, Deliveries: 3, Attempts: 3, Kept: 1})
	if res.Cursor != "" {
		t.Fatalf("cursor %q after a complete pass", res.Cursor)
	}
	wantGone(t, s, "acme", []string{done.ID}, doneIDs)
	wantGone(t, s, "beta", []string{cancelled.ID, bare.ID}, cancelledIDs)
	// The unfinished one is whole: event, delivery, attempts.
	if _, err := s.FindEventByID(ctx, "acme", open.ID); err != nil {
		t.Fatalf("event with a failed delivery: %v", err)
	}
	d, err := s.FindDeliveryByID(ctx, "acme", openIDs[0])
	must(t, err)
	if d.State != hookd.DeliveryFailed || len(d.AttemptLog) != 2 {
		t.Fatalf("kept delivery = %+v with %d attempts", d, len(d.AttemptLog))
	}
	ev, err := s.FindEventByID(ctx, "acme", recent.ID)
	must(t, err)
	if ev.Deliveries != 2 || len(deliveriesOf(t, s, "acme", recent.ID)) != 2 {
		t.Fatalf("recent event = %+v", ev)
	}
	if list, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "beta"}); err != nil || len(list) != 0 {
		t.Fatalf("beta deliveries after purge: %d, %v", len(list), err)
	}

	// Nothing more until the kept one finishes.
	res, err = p.Purge(ctx, hookd.PurgeRequest{Before: cutoff, Limit: 100})
	must(t, err)
	wantPurged(t, res, hookd.PurgeResult{Kept: 1})
	at3 := at2.Add(2 * time.Minute)
	completeAll(t, s, "n1", claim(t, s, "n1", at3, 10), hookd.DeliveryDead, at3)
	res, err = p.Purge(ctx, hookd.PurgeRequest{Before: cutoff, Limit: 100})
	must(t, err)
	wantPurged(t, res, hookd.PurgeResult{Events: 1, Deliveries: 1, Attempts: 3})
	wantGone(t, s, "acme", []string{open.ID}, openIDs)

	// A delivery re-sent on request keeps its event until it finishes.
	recentIDs := deliveriesOf(t, s, "acme", recent.ID)
	_, err = s.RetryDelivery(ctx, "acme", recentIDs[0], future())
	must(t, err)
	later := recent.CreatedAt.Add(time.Hour)
	res, err = p.Purge(ctx, hookd.PurgeRequest{Before: later})
	must(t, err)
	wantPurged(t, res, hookd.PurgeResult{Kept: 1})
	completeAll(t, s, "n1", claim(t, s, "n1", future(), 10), hookd.DeliverySucceeded, future())
	res, err = p.Purge(ctx, hookd.PurgeRequest{Before: later})
	must(t, err)
	wantPurged(t, res, hookd.PurgeResult{Events: 1, Deliveries: 2, Attempts: 3})
	wantGone(t, s, "acme", []string{recent.ID}, recentIDs)

	// An id taken by a purged event is free again.
	again := &hookd.Event{ID: "zz-done", Type: "invoice.paid", Payload: json.RawMessage(`{"v":2}`)}
	must(t, publishErr(s.PublishEvents(ctx, "acme", []*hookd.Event{again}, hookd.MatchSubscribed, nil)))
	if again.Duplicate || again.Deliveries != 2 {
		t.Fatalf("republished id = %+v", again)
	}
}

// A purge examines at most Limit events per call; following the cursor
// finishes the job, passing events it keeps, and stops at recent events.
func testPurgeBatches(t *testing.T, s hookd.Store) {
	p := purger(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	endpoint(t, s, "acme", "*")
	// One publish: events with the same creation time in one batch.
	first := publish(t, s, "acme", "a", "a", "a")
	kept := publish(t, s, "acme", "keep")[0]
	rest := publish(t, s, "acme", "a", "a", "a", "a")
	bare := publish(t, s, "beta", "b", "b", "b") // no endpoints in beta
	at := future()
	var finish []*hookd.ClaimedDelivery
	for _, cd := range claim(t, s, "n1", at, 100) {
		if cd.EventID != kept.ID {
			finish = append(finish, cd)
		}
	}
	if len(finish) != 7 {
		t.Fatalf("claimed %d to finish, want 7", len(finish))
	}
	completeAll(t, s, "n1", finish, hookd.DeliverySucceeded, at)
	cutoff := bare[2].CreatedAt.Add(time.Microsecond)
	waitPast(cutoff)
	recent := publish(t, s, "beta", "b")[0]

	const limit = 3
	var total hookd.PurgeResult
	cursor, calls := "", 0
	for {
		res, err := p.Purge(ctx, hookd.PurgeRequest{Before: cutoff, Limit: limit, Cursor: cursor})
		must(t, err)
		calls++
		if res.Events+res.Kept > limit {
			t.Fatalf("call %d examined %d events, limit %d", calls, res.Events+res.Kept, limit)
		}
		total.Add(res)
		if cursor = res.Cursor; cursor == "" {
			break
		}
		if calls > 10 {
			t.Fatal("the pass does not end")
		}
	}
	// 11 old events, 3 at a time.
	if calls != 4 {
		t.Fatalf("%d calls, want 4", calls)
	}
	wantPurged(t, total, hookd.PurgeResult{Events: 10, Deliveries: 7, Attempts: 7, Kept: 1})
	for _, ev := range append(first, rest...) {
		wantGone(t, s, "acme", []string{ev.ID}, nil)
	}
	for _, ev := range bare {
		wantGone(t, s, "beta", []string{ev.ID}, nil)
	}
	if _, err := s.FindEventByID(ctx, "acme", kept.ID); err != nil {
		t.Fatalf("kept event: %v", err)
	}
	if _, err := s.FindEventByID(ctx, "beta", recent.ID); err != nil {
		t.Fatalf("recent event: %v", err)
	}
	// A new pass only finds the kept one.
	res, err := p.Purge(ctx, hookd.PurgeRequest{Before: cutoff, Limit: limit})
	must(t, err)
	wantPurged(t, res, hookd.PurgeResult{Kept: 1})
	if res.Cursor != "" {
		t.Fatalf("cursor %q after a complete pass", res.Cursor)
	}
	_, err = p.Purge(ctx, hookd.PurgeRequest{Before: cutoff, Limit: limit, Cursor: "not a cursor!"})
	wantCode(t, err, hookd.EINVALID)
}

// A manual retry racing a purge either comes first (the event is kept and
// the delivery is pending) or finds the delivery gone; never a pending
// delivery without its event.
func testPurgeRacesRetry(t *testing.T, s hookd.Store) {
	p := purger(t, s)
	tenant(t, s, "acme")
	endpoint(t, s, "acme", "*")
	types := make([]string, 40)
	for i := range types {
		types[i] = "a"
	}
	evs := publish(t, s, "acme", types...)
	at := future()
	completeAll(t, s, "n1", claim(t, s, "n1", at, 100), hookd.DeliverySucceeded, at)
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = deliveriesOf(t, s, "acme", ev.ID)[0]
	}
	cutoff := evs[len(evs)-1].CreatedAt.Add(time.Microsecond)

	retried := make([]error, len(evs))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := len(ids) - 1; i >= 0; i-- { // from the end, towards the purge
			_, retried[i] = s.RetryDelivery(ctx, "acme", ids[i], at)
		}
	}()
	cursor := ""
	for {
		res, err := p.Purge(ctx, hookd.PurgeRequest{Before: cutoff, Limit: 4, Cursor: cursor})
		must(t, err)
		if cursor = res.Cursor; cursor == "" {
			break
		}
	}
	<-done
	for i, ev := range evs {
		_, evErr := s.FindEventByID(ctx, "acme", ev.ID)
		d, dErr := s.FindDeliveryByID(ctx, "acme", ids[i])
		switch {
		case retried[i] == nil:
			if evErr != nil || dErr != nil || d.State != hookd.DeliveryPending {
				t.Fatalf("event %d retried: event %v, delivery %v %v", i, evErr, d, dErr)
			}
		case hookd.ErrorCode(retried[i]) == hookd.ENOTFOUND:
			if hookd.ErrorCode(evErr) != hookd.ENOTFOUND || hookd.ErrorCode(dErr) != hookd.ENOTFOUND {
				t.Fatalf("event %d: retry found nothing, but event %v, delivery %v", i, evErr, dErr)
			}
		default:
			t.Fatalf("retry %d: %v", i, retried[i])
		}
	}
}
