package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func testPublishFanOut(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	all := endpoint(t, s, "acme", "*")
	inv := endpoint(t, s, "acme", "invoice.*")
	exact := endpoint(t, s, "acme", "user.created")
	endpoint(t, s, "beta", "*") // another tenant's endpoint gets nothing
	evs := publish(t, s, "acme", "invoice.paid", "user.created", "other.thing")
	wants := []int{2, 2, 1}
	for i, ev := range evs {
		if ev.ID == "" || ev.CreatedAt.IsZero() || ev.Duplicate || ev.Deliveries != wants[i] {
			t.Fatalf("event %d = %+v, want %d deliveries", i, ev, wants[i])
		}
	}
	got := map[string]int{}
	for _, cd := range claim(t, s, "n1", future(), 100) {
		got[cd.EndpointID]++
		if cd.TenantID != "acme" || cd.State != hookd.DeliveryDelivering || len(cd.Payload) == 0 || cd.EventType == "" {
			t.Fatalf("claimed = %+v", cd)
		}
	}
	if got[all.ID] != 3 || got[inv.ID] != 1 || got[exact.ID] != 1 || len(got) != 3 {
		t.Fatalf("fan-out = %v", got)
	}
	wantCode(t, publishErr(s.PublishEvents(ctx, "ghost", []*hookd.Event{{Type: "a", Payload: json.RawMessage(`{}`)}}, hookd.MatchSubscribed, nil)), hookd.ENOTFOUND)
	ev, err := s.FindEventByID(ctx, "acme", evs[0].ID)
	must(t, err)
	if ev.Type != "invoice.paid" || ev.Deliveries != 2 || ev.Origin != hookd.OriginAPI {
		t.Fatalf("stored event = %+v", ev)
	}
	_, err = s.FindEventByID(ctx, "beta", evs[0].ID)
	wantCode(t, err, hookd.ENOTFOUND)
}

func testPublishIdempotency(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	endpoint(t, s, "acme", "*")
	endpoint(t, s, "beta", "*")
	first := &hookd.Event{Type: "a", Payload: json.RawMessage(`{"v":1}`), IdempotencyKey: "k1"}
	must(t, publishErr(s.PublishEvents(ctx, "acme", []*hookd.Event{first}, hookd.MatchSubscribed, nil)))
	again := &hookd.Event{Type: "b", Payload: json.RawMessage(`{"v":2}`), IdempotencyKey: "k1"}
	must(t, publishErr(s.PublishEvents(ctx, "acme", []*hookd.Event{again}, hookd.MatchSubscribed, nil)))
	if !again.Duplicate || again.ID != first.ID || again.Type != "a" || again.Deliveries != 1 {
		t.Fatalf("repeat by key = %+v, first %+v", again, first)
	}
	// The same key in another tenant is a different event.
	other := &hookd.Event{Type: "a", Payload: json.RawMessage(`{}`), IdempotencyKey: "k1"}
	must(t, publishErr(s.PublishEvents(ctx, "beta", []*hookd.Event{other}, hookd.MatchSubscribed, nil)))
	if other.Duplicate {
		t.Fatal("idempotency keys leak across tenants")
	}
	// By explicit id, across calls and within one batch.
	byID := &hookd.Event{ID: "order-7", Type: "a", Payload: json.RawMessage(`{}`)}
	must(t, publishErr(s.PublishEvents(ctx, "acme", []*hookd.Event{byID}, hookd.MatchSubscribed, nil)))
	batch := []*hookd.Event{
		{ID: "order-7", Type: "a", Payload: json.RawMessage(`{}`)},
		{ID: "order-8", Type: "a", Payload: json.RawMessage(`{}`)},
		{ID: "order-8", Type: "a", Payload: json.RawMessage(`{}`)},
		{Type: "a", Payload: json.RawMessage(`{}`), IdempotencyKey: "k9"},
		{Type: "a", Payload: json.RawMessage(`{}`), IdempotencyKey: "k9"},
	}
	must(t, publishErr(s.PublishEvents(ctx, "acme", batch, hookd.MatchSubscribed, nil)))
	dups := []bool{true, false, true, false, true}
	for i, ev := range batch {
		if ev.Duplicate != dups[i] {
			t.Fatalf("batch[%d].Duplicate = %v", i, ev.Duplicate)
		}
	}
	if batch[4].ID != batch[3].ID || batch[2].ID != "order-8" {
		t.Fatalf("in-batch repeats did not resolve to the first: %+v", batch)
	}
	// Exactly one delivery per distinct event: first, order-7, order-8, k9.
	if n := len(claim(t, s, "n1", future(), 100)); n != 4+1 /* beta */ {
		t.Fatalf("claimable deliveries = %d, want 5", n)
	}
}

func testPublishAllOrNothing(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	endpoint(t, s, "acme", "*")
	evs := []*hookd.Event{{ID: "e1", Type: "a", Payload: json.RawMessage(`{}`)}}
	wantCode(t, publishErr(s.PublishEvents(ctx, "ghost", evs, hookd.MatchSubscribed, nil)), hookd.ENOTFOUND)
	if evs[0].CreatedAt != (time.Time{}) || evs[0].Deliveries != 0 {
		t.Fatalf("a failed publish changed the caller's event: %+v", evs[0])
	}
	_, err := s.FindEventByID(ctx, "acme", "e1")
	wantCode(t, err, hookd.ENOTFOUND)
	if n := len(claim(t, s, "n1", future(), 100)); n != 0 {
		t.Fatalf("a failed publish left %d deliveries", n)
	}
}

func testPayloadByteExact(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	endpoint(t, s, "acme", "*")
	payload := json.RawMessage("{\"z\": 1,\n  \"a\":[1.50, \"\\u00e9\", null] , \"big\": 12345678901234567890}")
	evs := []*hookd.Event{{Type: "a", Payload: payload}}
	must(t, publishErr(s.PublishEvents(ctx, "acme", evs, hookd.MatchSubscribed, nil)))
	got, err := s.FindEventByID(ctx, "acme", evs[0].ID)
	must(t, err)
	if string(got.Payload) != string(payload) {
		t.Fatalf("stored payload changed:\n%s\n%s", got.Payload, payload)
	}
	c := claim(t, s, "n1", future(), 1)
	if len(c) != 1 || string(c[0].Payload) != string(payload) {
		t.Fatalf("claimed payload changed: %s", c[0].Payload)
	}
}

func testClaimAndComplete(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	ep := endpoint(t, s, "acme", "*")
	publish(t, s, "acme", "a", "b", "c")
	now := future()
	got := claim(t, s, "n1", now, 2)
	if len(got) != 2 {
		t.Fatalf("claimed %d, want the limit 2", len(got))
	}
	if again := claim(t, s, "n2", now, 10); len(again) != 1 {
		t.Fatalf("a second claimer got %d, want the 1 left", len(again))
	}
	results := []*hookd.DeliveryResult{
		result(got[0], "n1", hookd.DeliverySucceeded, 200, now),
		result(got[1], "n1", hookd.DeliveryFailed, 500, now.Add(time.Millisecond)),
	}
	must(t, s.CompleteDeliveries(ctx, results))
	if results[0].Stale || results[1].Stale {
		t.Fatal("fresh results marked stale")
	}
	d, err := s.FindDeliveryByID(ctx, "acme", got[0].ID)
	must(t, err)
	if d.State != hookd.DeliverySucceeded || d.Attempts != 1 || d.NextAttemptAt != nil || len(d.AttemptLog) != 1 {
		t.Fatalf("succeeded delivery = %+v", d)
	}
	a := d.AttemptLog[0]
	if a.Number != 1 || a.StatusCode != 200 || a.ResponseBody != "ok" || a.ResponseHeaders["X-Test"] != "1" || a.DurationMS != 12.5 || a.Trigger != hookd.TriggerScheduled {
		t.Fatalf("attempt = %+v", a)
	}
	f, err := s.FindDeliveryByID(ctx, "acme", got[1].ID)
	must(t, err)
	if f.State != hookd.DeliveryFailed || f.NextAttemptAt == nil || !f.NextAttemptAt.Equal(results[1].NextAt.UTC()) {
		t.Fatalf("failed delivery = %+v (next %v)", f, f.NextAttemptAt)
	}
	e, err := s.FindEndpointByID(ctx, "acme", ep.ID)
	must(t, err)
	if e.LastStatus != 500 || e.ConsecutiveFailures != 1 || e.LastDeliveryAt == nil {
		t.Fatalf("endpoint stats = status %d failures %d last %v", e.LastStatus, e.ConsecutiveFailures, e.LastDeliveryAt)
	}
	// The failed one is due again at its next time, with its attempt count.
	if c := claim(t, s, "n1", now.Add(20*time.Second), 10); len(c) != 0 {
		t.Fatalf("claimed %d before the retry time", len(c))
	}
	var c []*hookd.ClaimedDelivery
	for _, cd := range claim(t, s, "n1", now.Add(2*time.Minute), 10) {
		if cd.ID == got[1].ID {
			c = append(c, cd)
		}
	}
	if len(c) != 1 || c[0].Attempts != 1 {
		t.Fatalf("retry claim = %+v", c)
	}
	dead := result(c[0], "n1", hookd.DeliveryDead, 500, now.Add(2*time.Minute))
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{dead}))
	f, _ = s.FindDeliveryByID(ctx, "acme", got[1].ID)
	if f.State != hookd.DeliveryDead || f.Attempts != 2 || len(f.AttemptLog) != 2 || f.AttemptLog[1].Number != 2 {
		t.Fatalf("dead delivery = %+v", f)
	}
	e, _ = s.FindEndpointByID(ctx, "acme", ep.ID)
	if e.ConsecutiveFailures != 2 {
		t.Fatalf("consecutive failures = %d, want 2", e.ConsecutiveFailures)
	}
}

func testClaimDueAndExclude(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	a := endpoint(t, s, "acme", "*")
	b := endpoint(t, s, "acme", "*")
	past := time.Now().Add(-time.Hour)
	if got := claim(t, s, "n1", past, 10); len(got) != 0 {
		t.Fatalf("nothing was published yet, claimed %d", len(got))
	}
	publish(t, s, "acme", "x")
	if got := claim(t, s, "n1", past, 10); len(got) != 0 {
		t.Fatalf("claimed %d deliveries not yet due", len(got))
	}
	got := claim(t, s, "n1", future(), 10, a.ID)
	if len(got) != 1 || got[0].EndpointID != b.ID {
		t.Fatalf("exclude: claimed %+v", got)
	}
}

func testLeaseExpiry(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	endpoint(t, s, "acme", "*")
	publish(t, s, "acme", "x")
	now := future()
	first := claim(t, s, "n1", now, 10)
	if len(first) != 1 {
		t.Fatal("no claim")
	}
	if got := claim(t, s, "n2", now.Add(10*time.Second), 10); len(got) != 0 {
		t.Fatal("a leased delivery was claimed by another node before its lease expired")
	}
	second := claim(t, s, "n2", now.Add(31*time.Second), 10)
	if len(second) != 1 || second[0].ID != first[0].ID {
		t.Fatal("an expired lease did not return the delivery to the queue")
	}
	late := result(first[0], "n1", hookd.DeliverySucceeded, 200, now)
	fresh := result(second[0], "n2", hookd.DeliveryFailed, 503, now.Add(31*time.Second))
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{late}))
	if !late.Stale {
		t.Fatal("the node that lost its lease recorded its result")
	}
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{fresh}))
	if fresh.Stale {
		t.Fatal("the lease holder's result was dropped")
	}
	d, _ := s.FindDeliveryByID(ctx, "acme", first[0].ID)
	if d.State != hookd.DeliveryFailed || d.Attempts != 1 || len(d.AttemptLog) != 1 || d.AttemptLog[0].StatusCode != 503 {
		t.Fatalf("delivery after stale + fresh results = %+v", d)
	}
}

func testReleaseAndExtend(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	endpoint(t, s, "acme", "*")
	publish(t, s, "acme", "x", "y")
	now := future()
	got := claim(t, s, "n1", now, 10)
	must(t, s.ReleaseDeliveries(ctx, "n2", []string{got[0].ID}, now)) // not n2's: no effect
	if c := claim(t, s, "n3", now, 10); len(c) != 0 {
		t.Fatal("another owner's release freed a lease")
	}
	must(t, s.ReleaseDeliveries(ctx, "n1", []string{got[0].ID}, now))
	c := claim(t, s, "n3", now, 10)
	if len(c) != 1 || c[0].ID != got[0].ID {
		t.Fatalf("released delivery not claimable: %+v", c)
	}
	d, _ := s.FindDeliveryByID(ctx, "acme", got[1].ID)
	if d.State != hookd.DeliveryDelivering {
		t.Fatalf("state = %s", d.State)
	}
	// Renewal keeps the lease past its first expiry...
	must(t, s.ExtendLeases(ctx, "n1", []string{got[1].ID}, now.Add(90*time.Second)))
	for _, cd := range claim(t, s, "n4", now.Add(60*time.Second), 10) {
		if cd.ID == got[1].ID {
			t.Fatal("a renewed lease was taken")
		}
	}
	// ...and extending to now frees at once (a restarted node).
	must(t, s.ExtendLeases(ctx, "n2", []string{got[1].ID}, now)) // not n2's: no effect
	for _, cd := range claim(t, s, "n5", now, 10) {
		if cd.ID == got[1].ID {
			t.Fatal("another owner's ExtendLeases changed a lease")
		}
	}
	must(t, s.ExtendLeases(ctx, "n1", nil, now))
	if c := claim(t, s, "n5", now, 10); len(c) != 1 || c[0].ID != got[1].ID {
		t.Fatalf("ExtendLeases(now) did not free the lease: %+v", c)
	}
}

func testDisableEndpoint(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	ep := endpoint(t, s, "acme", "*")
	publish(t, s, "acme", "x", "y")
	now := future()
	got := claim(t, s, "n1", now, 1)
	r := result(got[0], "n1", hookd.DeliveryDead, 410, now)
	r.DisableReason = "The endpoint answered 410 Gone."
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{r}))
	e, _ := s.FindEndpointByID(ctx, "acme", ep.ID)
	if e.State != hookd.EndpointDisabled || e.StateReason != r.DisableReason || e.StateChanged == nil {
		t.Fatalf("endpoint after 410 = %+v", e)
	}
	if c := claim(t, s, "n1", now, 10); len(c) != 0 {
		t.Fatal("a disabled endpoint's delivery was claimed")
	}
	if evs := publish(t, s, "acme", "z"); evs[0].Deliveries != 0 {
		t.Fatal("a disabled endpoint got a new delivery")
	}
}

func testPaused(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	ep := endpoint(t, s, "acme", "*")
	paused, enabled := hookd.EndpointPaused, hookd.EndpointEnabled
	_, err := s.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{State: &paused})
	must(t, err)
	if evs := publish(t, s, "acme", "x"); evs[0].Deliveries != 1 {
		t.Fatal("a paused endpoint must still get deliveries (held)")
	}
	if c := claim(t, s, "n1", future(), 10); len(c) != 0 {
		t.Fatal("a paused endpoint's delivery was claimed")
	}
	_, err = s.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{State: &enabled})
	must(t, err)
	if c := claim(t, s, "n1", future(), 10); len(c) != 1 {
		t.Fatal("the backlog was not delivered on resume")
	}
}

func testRetry(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	endpoint(t, s, "acme", "*")
	publish(t, s, "acme", "x")
	now := future()
	got := claim(t, s, "n1", now, 1)
	_, err := s.RetryDelivery(ctx, "acme", got[0].ID, now)
	wantCode(t, err, hookd.ECONFLICT) // being delivered
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{result(got[0], "n1", hookd.DeliveryDead, 500, now)}))
	_, err = s.RetryDelivery(ctx, "other", got[0].ID, now)
	wantCode(t, err, hookd.ENOTFOUND)
	d, err := s.RetryDelivery(ctx, "acme", got[0].ID, now)
	must(t, err)
	if d.State != hookd.DeliveryPending || d.NextAttemptAt == nil || d.Attempts != 1 {
		t.Fatalf("retried delivery = %+v, want pending with its attempt count", d)
	}
	c := claim(t, s, "n1", now, 10)
	if len(c) != 1 || !c[0].Manual || c[0].Attempts != 1 {
		t.Fatalf("manual retry claim = %+v", c)
	}
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{result(c[0], "n1", hookd.DeliverySucceeded, 200, now)}))
	if c := claim(t, s, "n1", now.Add(time.Hour), 10); len(c) != 0 {
		t.Fatal("a succeeded delivery was claimed again")
	}
	// A succeeded delivery may be re-sent on request.
	if _, err := s.RetryDelivery(ctx, "acme", got[0].ID, now); err != nil {
		t.Fatal(err)
	}
	if c := claim(t, s, "n1", now, 10); len(c) != 1 || !c[0].Manual || c[0].Attempts != 2 {
		t.Fatalf("re-send claim = %+v", c)
	}
	_, err = s.RetryDelivery(ctx, "acme", "msg_nope", now)
	wantCode(t, err, hookd.ENOTFOUND)
}

func testDeleteEndpoint(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	ep := endpoint(t, s, "acme", "*")
	evs := publish(t, s, "acme", "x", "y")
	now := future()
	inflight := claim(t, s, "n1", now, 1)
	must(t, s.DeleteEndpoint(ctx, "acme", ep.ID))
	if c := claim(t, s, "n1", now.Add(time.Hour), 10); len(c) != 0 {
		t.Fatal("a deleted endpoint's deliveries are still claimable")
	}
	r := result(inflight[0], "n1", hookd.DeliverySucceeded, 200, now)
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{r}))
	if !r.Stale {
		t.Fatal("a result for a cancelled delivery was recorded")
	}
	list, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", EndpointID: ep.ID})
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("history of a deleted endpoint: %d deliveries, want 2", len(list))
	}
	for _, d := range list {
		if d.State != hookd.DeliveryCancelled {
			t.Fatalf("delivery %s is %s, want cancelled", d.ID, d.State)
		}
	}
	_, err = s.RetryDelivery(ctx, "acme", list[0].ID, now)
	wantCode(t, err, hookd.ECONFLICT)
	if _, err := s.FindEventByID(ctx, "acme", evs[0].ID); err != nil {
		t.Fatal(err)
	}
}

func testDeliveryFilters(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	a := endpoint(t, s, "acme", "*")
	endpoint(t, s, "acme", "x.*")
	evs := publish(t, s, "acme", "x.one", "y.two")
	count := func(f hookd.DeliveryFilter) int {
		f.TenantID = "acme"
		list, _, err := s.FindDeliveries(ctx, f)
		must(t, err)
		return len(list)
	}
	if n := count(hookd.DeliveryFilter{}); n != 3 {
		t.Fatalf("all = %d", n)
	}
	if n := count(hookd.DeliveryFilter{EndpointID: a.ID}); n != 2 {
		t.Fatalf("by endpoint = %d", n)
	}
	if n := count(hookd.DeliveryFilter{EventID: evs[0].ID}); n != 2 {
		t.Fatalf("by event = %d", n)
	}
	if n := count(hookd.DeliveryFilter{State: hookd.DeliveryPending}); n != 3 {
		t.Fatalf("pending = %d", n)
	}
	if n := count(hookd.DeliveryFilter{State: hookd.DeliverySucceeded}); n != 0 {
		t.Fatalf("succeeded = %d", n)
	}
	list, next, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", Page: hookd.Page{Limit: 2}})
	must(t, err)
	rest, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", Page: hookd.Page{Limit: 2, Cursor: next}})
	must(t, err)
	if len(list) != 2 || next == "" || len(rest) != 1 {
		t.Fatalf("pages %d + %d (cursor %q)", len(list), len(rest), next)
	}
	_, err = s.FindDeliveryByID(ctx, "other", list[0].ID)
	wantCode(t, err, hookd.ENOTFOUND)
}

func testHandoff(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	a := endpoint(t, s, "acme", "*")
	b := endpoint(t, s, "acme", "*")
	paused := endpoint(t, s, "acme", "*")
	st := hookd.EndpointPaused
	_, err := s.UpdateEndpoint(ctx, "acme", paused.ID, hookd.EndpointUpdate{State: &st})
	must(t, err)
	now := time.Now()
	h := &hookd.Handoff{Owner: "n1", Until: now.Add(30 * time.Second), Max: 2,
		Accept: func(id string) bool { return id != b.ID }}
	evs := []*hookd.Event{{Type: "x", Payload: json.RawMessage(`{"v":1}`)}, {Type: "y", Payload: json.RawMessage(`{"v":2}`)}}
	leased, err := s.PublishEvents(ctx, "acme", evs, hookd.MatchSubscribed, h)
	must(t, err)
	if evs[0].Deliveries != 3 || evs[1].Deliveries != 3 {
		t.Fatalf("deliveries = %d, %d; want 3 each", evs[0].Deliveries, evs[1].Deliveries)
	}
	if len(leased) != 2 {
		t.Fatalf("leased %d, want Max = 2", len(leased))
	}
	for _, cd := range leased {
		if cd.EndpointID != a.ID || cd.State != hookd.DeliveryDelivering || len(cd.Payload) == 0 || cd.Attempts != 0 {
			t.Fatalf("leased delivery = %+v (only the accepting, enabled endpoint may be leased)", cd)
		}
	}
	// The leased ones are not claimable until the lease expires; the rest are.
	got := claim(t, s, "n2", now.Add(time.Second), 100)
	for _, cd := range got {
		if cd.ID == leased[0].ID || cd.ID == leased[1].ID {
			t.Fatal("a handed-off delivery was claimed while leased")
		}
	}
	if len(got) != 2 { // b's two; the paused endpoint's are held
		t.Fatalf("claimable = %d, want 2", len(got))
	}
	r := result(leased[0], "n1", hookd.DeliverySucceeded, 200, now)
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{r}))
	if r.Stale {
		t.Fatal("the handoff owner's result was dropped")
	}
	found := false
	for _, cd := range claim(t, s, "n3", now.Add(31*time.Second), 100) {
		if cd.ID == leased[0].ID {
			t.Fatal("a completed handed-off delivery was claimed again")
		}
		found = found || cd.ID == leased[1].ID
	}
	if !found {
		t.Fatal("the unfinished handed-off delivery did not return to the queue when its lease expired")
	}
}
