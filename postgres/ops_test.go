package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/postgres"
)

// A claimed delivery carries its count of throttled attempts.
func TestClaimCarriesThrottled(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	mustTenant(t, s, "acme")
	mustEndpoint(t, s, "acme", 10)
	publishN(t, s, "acme", 1)
	at := time.Now().Add(time.Second)
	cds := claimAll(t, s, "n1", at)
	if len(cds) != 1 || cds[0].Throttled != 0 {
		t.Fatalf("first claim = %+v", cds)
	}
	r := &hookd.DeliveryResult{DeliveryID: cds[0].ID, TenantID: "acme", EndpointID: cds[0].EndpointID, Owner: "n1",
		State: hookd.DeliveryFailed, NextAt: at, Throttled: true,
		Attempt: hookd.Attempt{Trigger: hookd.TriggerScheduled, URL: "https://example.com/hook", StartedAt: at, StatusCode: 429}}
	if err := s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{r}); err != nil || r.Stale {
		t.Fatalf("complete: %v (stale %v)", err, r.Stale)
	}
	again := claimAll(t, s, "n1", at.Add(time.Second))
	if len(again) != 1 || again[0].Throttled != 1 || again[0].Attempts != 1 {
		t.Fatalf("claim after a throttled attempt = %+v", again)
	}
}

// Replays of one endpoint running at once on several nodes add one
// delivery per event between them, not one each.
func TestConcurrentReplaysAddOneDeliveryPerEvent(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	first := openAt(t, dsn, schema, postgres.Options{})
	mustTenant(t, first, "acme")
	since := time.Now().Add(-time.Second)
	publishN(t, first, "acme", 50) // no endpoint yet: no deliveries
	late := mustEndpoint(t, first, "acme", 10)
	win := hookd.Window{Since: since, Until: time.Now().Add(time.Second)}

	const nodes = 4
	counts := make([]int, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for n := range nodes {
		s := first
		if n > 0 {
			s = openAt(t, dsn, schema, postgres.Options{})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[n], errs[n] = s.ReplayEvents(ctx, "acme", late.ID, win, hookd.MatchSubscribed, time.Now())
		}()
	}
	wg.Wait()
	total := 0
	for n := range nodes {
		if errs[n] != nil {
			t.Fatal(errs[n])
		}
		total += counts[n]
	}
	list, _, err := first.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", EndpointID: late.ID, Page: hookd.Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	// The first replay adds 50 pending deliveries; later ones find them
	// pending and leave them alone.
	if total != 50 || len(list) != 50 {
		t.Fatalf("replays queued %v (%d in all), the endpoint has %d deliveries; want 50", counts, total, len(list))
	}
}

// A late delivery whose id falls into its event's id range (ids made on a
// node whose clock is behind) is listed once, counted once by retention,
// and purged with its event.
func TestLateDeliveryInsideIDRange(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	mustTenant(t, s, "acme")
	mustEndpoint(t, s, "acme", 10)
	mustEndpoint(t, s, "acme", 10)
	ev := publishN(t, s, "acme", 1)[0]
	var lo, hi string
	if err := s.Pool().QueryRow(ctx, `SELECT first_delivery, last_delivery FROM events WHERE id = $1`, ev.ID).Scan(&lo, &hi); err != nil {
		t.Fatal(err)
	}
	if lo >= hi {
		t.Fatalf("event range %s..%s", lo, hi)
	}
	skewed := lo + "0" // after lo, before hi
	ep := mustEndpoint(t, s, "acme", 10)
	at := time.Now().Add(time.Second)
	_, err := s.Pool().Exec(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, event_type, endpoint_id, state, next_attempt_at, manual, created_at, updated_at)
		VALUES ($1, 'acme', $2, $3, $4, 'pending', $5, true, $5, $5)`, skewed, ev.ID, ev.Type, ep.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO late_deliveries (tenant_id, event_id, delivery_id) VALUES ('acme', $1, $2)`, ev.ID, skewed); err != nil {
		t.Fatal(err)
	}
	list, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", EventID: ev.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("event lists %d deliveries, want 3", len(list))
	}
	// A replay finds the endpoint's delivery (pending) and adds none.
	if n, err := s.ReplayEvents(ctx, "acme", ep.ID, hookd.Window{Since: ev.CreatedAt, Until: at}, hookd.MatchSubscribed, at); err != nil || n != 0 {
		t.Fatalf("replay = %d, %v; want 0", n, err)
	}
	cds := claimAll(t, s, "n1", at)
	if len(cds) != 3 {
		t.Fatalf("claimed %d", len(cds))
	}
	rs := make([]*hookd.DeliveryResult, len(cds))
	for i, cd := range cds {
		rs[i] = &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: "acme", EndpointID: cd.EndpointID, Owner: "n1",
			State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{Trigger: hookd.TriggerScheduled, URL: "https://example.com/hook", StartedAt: at, StatusCode: 200}}
	}
	if err := s.CompleteDeliveries(ctx, rs); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(at.Add(time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	res, err := s.Purge(ctx, hookd.PurgeRequest{Before: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 1 || res.Deliveries != 3 || res.Attempts != 3 || res.Kept != 0 {
		t.Fatalf("purge = %+v, want the event with its 3 deliveries", res)
	}
	var left int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM late_deliveries`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("late_deliveries rows left: %d, %v", left, err)
	}
}
