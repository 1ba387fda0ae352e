package maintain_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/maintain"
	"github.com/hookd/hookd/sqlite"
)

var ctx = context.Background()

// storeClock is the injected clock of a store: events are created at its time.
type storeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *storeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *storeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func openSQLite(t *testing.T, clock *storeClock) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// countingPurger records every batch.
type countingPurger struct {
	p       hookd.Purger
	mu      sync.Mutex
	batches []hookd.PurgeResult
	fail    error
}

func (c *countingPurger) Purge(ctx context.Context, req hookd.PurgeRequest) (hookd.PurgeResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return hookd.PurgeResult{}, c.fail
	}
	res, err := c.p.Purge(ctx, req)
	if err == nil {
		c.batches = append(c.batches, res)
	}
	return res, err
}

func (c *countingPurger) take() []hookd.PurgeResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.batches
	c.batches = nil
	return b
}

// publishFinished publishes n events of tenant at the store's time and
// delivers them all successfully (and nothing else); it returns their ids.
func publishFinished(t *testing.T, s hookd.Store, tenantID string, n int, at time.Time) []string {
	t.Helper()
	ids := publishPending(t, s, tenantID, n)
	cds, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: "n1", Now: at, Limit: 1000, Lease: time.Minute})
	must(t, err)
	mine := map[string]bool{}
	for _, id := range ids {
		mine[id] = true
	}
	var rs []*hookd.DeliveryResult
	var others []string
	for _, cd := range cds {
		if !mine[cd.EventID] {
			others = append(others, cd.ID)
			continue
		}
		rs = append(rs, &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: cd.TenantID, EndpointID: cd.EndpointID, Owner: "n1",
			State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{Number: 1, Trigger: hookd.TriggerScheduled,
				URL: "https://example.com/hook", StartedAt: at, StatusCode: 200}})
	}
	must(t, s.CompleteDeliveries(ctx, rs))
	if len(others) > 0 {
		must(t, s.ReleaseDeliveries(ctx, "n1", others, at))
	}
	return ids
}

func publishPending(t *testing.T, s hookd.Store, tenantID string, n int) []string {
	t.Helper()
	evs := make([]*hookd.Event, n)
	for i := range evs {
		evs[i] = &hookd.Event{Type: "invoice.paid", Payload: json.RawMessage(`{}`)}
	}
	_, err := s.PublishEvents(ctx, tenantID, evs, hookd.MatchSubscribed, nil)
	must(t, err)
	ids := make([]string, n)
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

func wantEvents(t *testing.T, s hookd.Store, tenantID string, ids []string, exist bool) {
	t.Helper()
	for _, id := range ids {
		_, err := s.FindEventByID(ctx, tenantID, id)
		switch {
		case exist && err != nil:
			t.Fatalf("event %s: %v, want it kept", id, err)
		case !exist && hookd.ErrorCode(err) != hookd.ENOTFOUND:
			t.Fatalf("event %s: %v, want it purged", id, err)
		}
	}
}

func TestRetentionTaskPurgesInBatches(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &storeClock{now: t0}
	s := openSQLite(t, clock)
	must(t, s.CreateTenant(ctx, &hookd.Tenant{ID: "acme", Name: "acme"}))
	ep := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com/hook", Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret(), CreatedAt: t0}}}
	ep.SetDefaults()
	must(t, s.CreateEndpoint(ctx, ep))

	old := publishFinished(t, s, "acme", 7, t0)
	waiting := publishPending(t, s, "acme", 1) // never delivered
	clock.set(t0.Add(10 * 24 * time.Hour))
	recent := publishFinished(t, s, "acme", 2, t0.Add(10*24*time.Hour))

	p := &countingPurger{p: s}
	task := maintain.RetentionTask(p, maintain.Retention{Period: 30 * 24 * time.Hour, Batch: 3, Pause: time.Millisecond})
	if task.Name != "retention" || task.Every != maintain.DefaultRetentionEvery {
		t.Fatalf("task = %q every %v", task.Name, task.Every)
	}

	// 29 days in: nothing is old yet.
	must(t, task.Run(ctx, t0.Add(29*24*time.Hour)))
	if b := p.take(); len(b) != 1 || b[0] != (hookd.PurgeResult{}) {
		t.Fatalf("batches before anything is old: %+v", b)
	}
	wantEvents(t, s, "acme", append(append(old, waiting...), recent...), true)

	// 31 days in: the 8 old events in batches of 3; the undelivered one stays.
	must(t, task.Run(ctx, t0.Add(31*24*time.Hour)))
	batches := p.take()
	if len(batches) != 3 {
		t.Fatalf("%d batches, want 3: %+v", len(batches), batches)
	}
	var total hookd.PurgeResult
	for _, b := range batches {
		if b.Events+b.Kept > 3 {
			t.Fatalf("batch %+v examined more than 3 events", b)
		}
		total.Add(b)
	}
	if total != (hookd.PurgeResult{Events: 7, Deliveries: 7, Attempts: 7, Kept: 1}) {
		t.Fatalf("purged %+v", total)
	}
	wantEvents(t, s, "acme", old, false)
	wantEvents(t, s, "acme", append(waiting, recent...), true)

	// 41 days in: the recent ones are old too.
	must(t, task.Run(ctx, t0.Add(41*24*time.Hour)))
	total = hookd.PurgeResult{}
	for _, b := range p.take() {
		total.Add(b)
	}
	if total != (hookd.PurgeResult{Events: 2, Deliveries: 2, Attempts: 2, Kept: 1}) {
		t.Fatalf("purged %+v", total)
	}
	wantEvents(t, s, "acme", recent, false)
	wantEvents(t, s, "acme", waiting, true)
}

// Through a runner: the runner's clock sets the cutoff.
func TestRetentionUnderRunner(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openSQLite(t, &storeClock{now: t0})
	must(t, s.CreateTenant(ctx, &hookd.Tenant{ID: "acme", Name: "acme"}))
	old := publishPending(t, s, "acme", 5) // no endpoints: no deliveries

	clock := newFakeClock()
	clock.now = t0.Add(24 * time.Hour)
	p := &countingPurger{p: s}
	ran := make(chan run, 10)
	retention := maintain.RetentionTask(p, maintain.Retention{Period: 36 * time.Hour, Batch: 2, Pause: time.Millisecond})
	inner := retention.Run
	retention.Run = func(ctx context.Context, now time.Time) error {
		err := inner(ctx, now)
		ran <- run{"retention", now}
		return err
	}
	r, err := maintain.NewRunner(maintain.Local, []maintain.Task{retention}, maintain.Options{Clock: clock})
	must(t, err)
	start(t, r)
	next(t, ran, 1) // at once: day 1, nothing old
	wantEvents(t, s, "acme", old, true)
	clock.advance(t, 1, maintain.DefaultRetentionEvery*24) // day 2: old
	next(t, ran, 1)
	wantEvents(t, s, "acme", old, false)
	if b := p.take(); len(b) != 4 { // 1 + 3 batches of 2
		t.Fatalf("batches %+v, want 4", b)
	}
}

func TestRetentionTaskStopsOnError(t *testing.T) {
	p := &countingPurger{fail: hookd.Errorf(hookd.EUNAVAILABLE, "The database is unavailable.")}
	task := maintain.RetentionTask(p, maintain.Retention{Period: time.Hour})
	if err := task.Run(ctx, time.Now()); hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("Run = %v, want the purge's error", err)
	}
	// Retention off: nothing is touched.
	off := maintain.RetentionTask(p, maintain.Retention{})
	if err := off.Run(ctx, time.Now()); err != nil {
		t.Fatalf("Run with retention off = %v", err)
	}
}

// A cancelled run stops between batches.
func TestRetentionTaskHonoursCancel(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openSQLite(t, &storeClock{now: t0})
	must(t, s.CreateTenant(ctx, &hookd.Tenant{ID: "acme", Name: "acme"}))
	publishPending(t, s, "acme", 5)
	p := &countingPurger{p: s}
	task := maintain.RetentionTask(p, maintain.Retention{Period: time.Hour, Batch: 1, Pause: time.Hour})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- task.Run(cctx, t0.Add(2*time.Hour)) }()
	for { // the first batch is done, the run pauses
		p.mu.Lock()
		n := len(p.batches)
		p.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop when cancelled")
	}
	if b := p.take(); len(b) != 1 {
		t.Fatalf("%d batches, want 1", len(b))
	}
}

func TestTokenCleanupTask(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openSQLite(t, &storeClock{now: t0})
	k := &hookd.APIKey{Role: hookd.RoleSuperadmin, Name: "root", Hash: hookd.HashAPIKey("k")}
	must(t, s.CreateAPIKey(ctx, k))
	must(t, s.CreateToken(ctx, &hookd.Token{KeyID: k.ID, Hash: hookd.HashAPIKey("t1"), ExpiresAt: t0.Add(time.Hour)}))
	must(t, s.CreateToken(ctx, &hookd.Token{KeyID: k.ID, Hash: hookd.HashAPIKey("t2"), ExpiresAt: t0.Add(2 * time.Hour)}))
	task := maintain.TokenCleanupTask(s, nil)
	if task.Name != "tokens" || task.Every != maintain.DefaultTokenCleanupEvery {
		t.Fatalf("task = %q every %v", task.Name, task.Every)
	}
	must(t, task.Run(ctx, t0.Add(90*time.Minute)))
	if _, err := s.FindTokenByHash(ctx, hookd.HashAPIKey("t1")); hookd.ErrorCode(err) != hookd.ENOTFOUND {
		t.Fatalf("expired token: %v, want it deleted", err)
	}
	if _, err := s.FindTokenByHash(ctx, hookd.HashAPIKey("t2")); err != nil {
		t.Fatalf("valid token: %v", err)
	}
}

func TestStoreTasks(t *testing.T) {
	s := openSQLite(t, &storeClock{now: time.Now()})
	names := func(ts []maintain.Task) (out []string) {
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return out
	}
	if got := names(maintain.StoreTasks(s, maintain.DefaultRetention, nil)); fmt.Sprint(got) != "[tokens retention trigger-retention]" {
		t.Fatalf("tasks = %v", got)
	}
	if got := names(maintain.StoreTasks(s, 0, nil)); len(got) != 1 || got[0] != "tokens" {
		t.Fatalf("tasks with retention off = %v", got)
	}
}

// Trigger retention keeps triggers for the longest de-duplication window
// even when history is kept for less, and purges them after that.
func TestTriggerRetention(t *testing.T) {
	clock := &storeClock{now: time.Now()}
	s := openSQLite(t, clock)
	must(t, s.CreateTenant(ctx, &hookd.Tenant{ID: "acme", Name: "acme"}))
	src := &hookd.Source{TenantID: "acme", Name: "ci", Verifier: hookd.SourceVerifier{Type: "none"}}
	src.SetDefaults()
	must(t, s.CreateSource(ctx, src))
	received := clock.now.Add(-40 * 24 * time.Hour)
	recent := clock.now.Add(-20 * 24 * time.Hour)
	var ids []string
	for i, at := range []time.Time{received, received.Add(time.Second), recent} {
		tr := &hookd.Trigger{TenantID: "acme", SourceID: src.ID, Source: "ci", ReceivedAt: at, Method: "POST",
			Headers: map[string]string{}, Query: map[string][]string{}, ContentType: hookd.ContentJSON, Body: []byte(`{}`),
			BodySHA256: "00", DeliveryID: fmt.Sprint("d", i)}
		must(t, s.CreateTrigger(ctx, tr, time.Hour))
		ids = append(ids, tr.ID)
	}
	claimed, err := s.ClaimTriggers(ctx, "n", clock.now, time.Minute, 10)
	must(t, err)
	for _, tr := range claimed {
		must(t, s.ProcessTrigger(ctx, tr.ID, "n", nil, clock.now))
	}
	// History kept one day; triggers still 30 days (the longest window).
	task := maintain.TriggerRetentionTask(s, maintain.Retention{Period: 24 * time.Hour, Batch: 1})
	must(t, task.Run(ctx, clock.now))
	for i, id := range ids {
		_, err := s.FindTriggerByID(ctx, "acme", id)
		if gone := hookd.ErrorCode(err) == hookd.ENOTFOUND; gone != (i < 2) {
			t.Fatalf("trigger %d: gone=%v (%v)", i, gone, err)
		}
	}
}
