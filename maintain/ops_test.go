package maintain_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/maintain"
	"github.com/hookd/hookd/sqlite"
)

// t0 is the start of the tests' injected time, at a stats bucket's start.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// notice is one operational event a fakeNotifier was given.
type notice struct {
	tenant string
	ev     *hookd.Event
}

// fakeNotifier records what it is asked to publish; it panics for the
// tenant brokenFor.
type fakeNotifier struct {
	mu        sync.Mutex
	got       []notice
	brokenFor string
}

var _ hookd.Notifier = (*fakeNotifier)(nil)

func (f *fakeNotifier) Notify(ctx context.Context, tenantID string, events ...*hookd.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tenantID == f.brokenFor {
		panic("notifier broke")
	}
	for _, ev := range events {
		f.got = append(f.got, notice{tenantID, ev})
	}
}

// take returns the notices since the last take.
func (f *fakeNotifier) take() []notice {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.got
	f.got = nil
	return got
}

// opsFixture is a SQLite store with tenants acme and beta.
type opsFixture struct {
	t     *testing.T
	s     *sqlite.Store
	clock *storeClock
}

func newOpsFixture(t *testing.T) *opsFixture {
	t.Helper()
	clock := &storeClock{now: t0}
	f := &opsFixture{t: t, s: openSQLite(t, clock), clock: clock}
	for _, id := range []string{"acme", "beta"} {
		must(t, f.s.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: id}))
	}
	return f
}

// endpoint creates an endpoint named name that subscribes to events of
// type name only.
func (f *opsFixture) endpoint(tenantID, name string) *hookd.Endpoint {
	f.t.Helper()
	ep := &hookd.Endpoint{TenantID: tenantID, Name: name, URL: "https://example.com/" + name, Events: []string{name},
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret(), CreatedAt: t0}}}
	ep.SetDefaults()
	must(f.t, f.s.CreateEndpoint(ctx, ep))
	return ep
}

// publish publishes n events for ep at time at and returns nothing: their
// deliveries stay pending.
func (f *opsFixture) publish(ep *hookd.Endpoint, n int, at time.Time) {
	f.t.Helper()
	f.clock.set(at)
	evs := make([]*hookd.Event, n)
	for i := range evs {
		evs[i] = &hookd.Event{Type: ep.Name, Payload: json.RawMessage(`{}`)}
	}
	_, err := f.s.PublishEvents(ctx, ep.TenantID, evs, hookd.MatchSubscribed, nil)
	must(f.t, err)
}

// attempts records ok successful and then failed failed attempts to ep,
// all started at at (each delivery ends: succeeded or dead).
func (f *opsFixture) attempts(ep *hookd.Endpoint, ok, failed int, at time.Time) {
	f.t.Helper()
	f.publish(ep, ok+failed, at)
	f.finish(ep, ok, at)
}

// finish makes one attempt for every pending delivery of ep at at: the
// first ok succeed, the others fail for good.
func (f *opsFixture) finish(ep *hookd.Endpoint, ok int, at time.Time) {
	f.t.Helper()
	done := 0
	for {
		cds, err := f.s.ClaimDeliveries(ctx, hookd.Claim{Owner: "n1", Now: at, Limit: 1000, Lease: time.Minute})
		must(f.t, err)
		var rs []*hookd.DeliveryResult
		var others []string
		for _, cd := range cds {
			if cd.EndpointID != ep.ID {
				others = append(others, cd.ID)
				continue
			}
			r := &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: cd.TenantID, EndpointID: cd.EndpointID, Owner: "n1",
				State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{Number: cd.Attempts + 1, Trigger: hookd.TriggerScheduled,
					URL: ep.URL, StartedAt: at, StatusCode: 200}}
			if done >= ok {
				r.State, r.Attempt.StatusCode, r.Attempt.Error = hookd.DeliveryDead, 500, "HTTP 500"
			}
			done++
			rs = append(rs, r)
		}
		if len(others) > 0 {
			must(f.t, f.s.ReleaseDeliveries(ctx, "n1", others, at))
		}
		if len(rs) == 0 {
			return
		}
		must(f.t, f.s.CompleteDeliveries(ctx, rs))
	}
}

func (f *opsFixture) find(ep *hookd.Endpoint) *hookd.Endpoint {
	f.t.Helper()
	got, err := f.s.FindEndpointByID(ctx, ep.TenantID, ep.ID)
	must(f.t, err)
	return got
}

// disabledPayload is the payload of hookd.endpoint.disabled.
type disabledPayload struct {
	Endpoint struct {
		ID                  string     `json:"id"`
		Name                string     `json:"name"`
		URL                 string     `json:"url"`
		State               string     `json:"state"`
		StateReason         string     `json:"state_reason"`
		StateChanged        *time.Time `json:"state_changed_at"`
		FailingSince        *time.Time `json:"failing_since"`
		ConsecutiveFailures int        `json:"consecutive_failures"`
	} `json:"endpoint"`
}

func decode[T any](t *testing.T, ev *hookd.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(ev.Payload, &v); err != nil {
		t.Fatalf("payload of %s: %v: %s", ev.Type, err, ev.Payload)
	}
	return v
}

func TestAutoDisableAfterFiveDays(t *testing.T) {
	f := newOpsFixture(t)
	flaky := f.endpoint("acme", "flaky")
	few := f.endpoint("acme", "few") // failing as long, but only 9 failures
	other := f.endpoint("beta", "other")
	healthy := f.endpoint("beta", "healthy")
	f.attempts(flaky, 0, 12, t0)
	f.attempts(few, 0, 9, t0)
	f.attempts(other, 3, 10, t0.Add(time.Hour)) // failing since 1 h later
	f.attempts(healthy, 0, 20, t0)
	f.attempts(healthy, 1, 0, t0.Add(time.Hour)) // then it recovered

	n := &fakeNotifier{}
	var logs syncBuffer
	c := maintain.DefaultAutoDisable()
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	task := maintain.AutoDisableTask(f.s, n, c)
	if task.Name != "auto-disable" || task.Every != 5*time.Minute {
		t.Fatalf("task = %q every %v", task.Name, task.Every)
	}
	const reason = "Every attempt failed for 120h0m0s (at least 10 in a row); disabled automatically."
	if got := c.Reason(); got != reason {
		t.Fatalf("reason = %q", got)
	}

	// 4 days 23 hours: nothing yet.
	must(t, task.Run(ctx, t0.Add(4*24*time.Hour+23*time.Hour)))
	if got := n.take(); len(got) != 0 {
		t.Fatalf("notified before 5 days: %+v", got)
	}
	for _, ep := range []*hookd.Endpoint{flaky, few, other, healthy} {
		if got := f.find(ep); got.State != hookd.EndpointEnabled {
			t.Fatalf("%s disabled before 5 days", ep.Name)
		}
	}

	// 5 days: flaky goes, once.
	at := t0.Add(120 * time.Hour)
	must(t, task.Run(ctx, at))
	got := n.take()
	if len(got) != 1 || got[0].tenant != "acme" {
		t.Fatalf("notices at 5 days = %+v, want one for acme", got)
	}
	ev := got[0].ev
	wantKey := "hookd.endpoint.disabled:" + flaky.ID + ":" + strconv.FormatInt(at.Unix(), 10)
	if ev.Type != hookd.TypeEndpointDisabled || ev.Origin != hookd.OriginHookd || ev.IdempotencyKey != wantKey {
		t.Fatalf("event = %s origin %q key %q, want key %q", ev.Type, ev.Origin, ev.IdempotencyKey, wantKey)
	}
	p := decode[disabledPayload](t, ev).Endpoint
	if p.ID != flaky.ID || p.Name != "flaky" || p.URL != flaky.URL || p.State != "disabled" || p.StateReason != reason ||
		p.FailingSince == nil || !p.FailingSince.Equal(t0) || p.ConsecutiveFailures != 12 ||
		p.StateChanged == nil || !p.StateChanged.Equal(at) {
		t.Fatalf("payload = %s", ev.Payload)
	}
	if got := f.find(flaky); got.State != hookd.EndpointDisabled || got.StateReason != reason {
		t.Fatalf("flaky: %s %q", got.State, got.StateReason)
	}
	for _, ep := range []*hookd.Endpoint{few, other, healthy} {
		if got := f.find(ep); got.State != hookd.EndpointEnabled {
			t.Fatalf("%s disabled at 5 days", ep.Name)
		}
	}
	if out := logs.String(); !strings.Contains(out, `msg="endpoint disabled automatically"`) || !strings.Contains(out, "endpoint="+flaky.ID) {
		t.Fatalf("log lacks the disabling:\n%s", out)
	}

	// The next run: nothing new.
	must(t, task.Run(ctx, at.Add(5*time.Minute)))
	if got := n.take(); len(got) != 0 {
		t.Fatalf("notified again: %+v", got)
	}

	// An hour later the other tenant's endpoint is due.
	must(t, task.Run(ctx, at.Add(time.Hour)))
	if got := n.take(); len(got) != 1 || got[0].tenant != "beta" || decode[disabledPayload](t, got[0].ev).Endpoint.ID != other.ID {
		t.Fatalf("notices at 5 days + 1 h = %+v", got)
	}
	if got := f.find(few); got.State != hookd.EndpointEnabled {
		t.Fatal("an endpoint with fewer than MinFailures failures was disabled")
	}

	// With a lower minimum, few goes too.
	c.MinFailures = 5
	must(t, maintain.AutoDisableTask(f.s, n, c).Run(ctx, at.Add(2*time.Hour)))
	if got := n.take(); len(got) != 1 || decode[disabledPayload](t, got[0].ev).Endpoint.ID != few.ID {
		t.Fatalf("notices with MinFailures 5 = %+v", got)
	}
	if got := f.find(healthy); got.State != hookd.EndpointEnabled {
		t.Fatal("an endpoint that recovered was disabled")
	}

	// Off: nothing happens.
	f.attempts(healthy, 0, 50, at)
	must(t, maintain.AutoDisableTask(f.s, n, maintain.AutoDisable{}).Run(ctx, at.Add(30*24*time.Hour)))
	if got := f.find(healthy); got.State != hookd.EndpointEnabled {
		t.Fatal("auto-disable with Period 0 disabled an endpoint")
	}
}

func TestStatsPruneTask(t *testing.T) {
	f := newOpsFixture(t)
	ep := f.endpoint("acme", "a")
	f.attempts(ep, 2, 0, t0)
	f.attempts(ep, 3, 0, t0.Add(47*time.Hour))
	task := maintain.StatsPruneTask(f.s, 0, nil)
	if task.Name != "stats" || task.Every != time.Hour {
		t.Fatalf("task = %q every %v", task.Name, task.Every)
	}
	count := func() int {
		st, err := f.s.EndpointStats(ctx, hookd.StatsFilter{Since: t0.Add(-time.Hour)})
		must(t, err)
		if st[ep.ID] == nil {
			return 0
		}
		return st[ep.ID].Total()
	}
	must(t, task.Run(ctx, t0.Add(47*time.Hour)))
	if got := count(); got != 5 {
		t.Fatalf("attempts after pruning at 47 h = %d, want 5", got)
	}
	must(t, task.Run(ctx, t0.Add(48*time.Hour+5*time.Minute)))
	if got := count(); got != 3 {
		t.Fatalf("attempts after pruning at 48 h = %d, want the 3 of the last 48 h", got)
	}
}

func TestOpsTasks(t *testing.T) {
	f := newOpsFixture(t)
	names := func(ts []maintain.Task) (out []string) {
		for _, t := range ts {
			out = append(out, t.Name+"/"+t.Every.String())
		}
		return out
	}
	if got := names(maintain.OpsTasks(f.s, nil, maintain.DefaultOps(), nil)); !slices.Equal(got, []string{"auto-disable/5m0s", "alerts/1m0s", "stats/1h0m0s"}) {
		t.Fatalf("default tasks = %v", got)
	}
	if got := names(maintain.OpsTasks(f.s, nil, maintain.Ops{}, nil)); !slices.Equal(got, []string{"stats/1h0m0s"}) {
		t.Fatalf("tasks with everything off = %v", got)
	}

	// Statistics are kept as long as the alert checks look back.
	c := maintain.DefaultOps()
	c.Alerts.HealthLow.Window = 72 * time.Hour
	var prune maintain.Task
	for _, task := range maintain.OpsTasks(f.s, nil, c, nil) {
		if task.Name == "stats" {
			prune = task
		}
	}
	ep := f.endpoint("acme", "a")
	f.attempts(ep, 1, 0, t0)
	must(t, prune.Run(ctx, t0.Add(100*time.Hour)))
	if st, _ := f.s.EndpointStats(ctx, hookd.StatsFilter{Since: t0}); st[ep.ID] == nil {
		t.Fatal("stats pruned before the health window's lookback (144 h)")
	}
}

// A panicking Notifier costs one tenant its notice, not the others.
func TestAutoDisableNotifierPanic(t *testing.T) {
	f := newOpsFixture(t)
	a := f.endpoint("acme", "a")
	b := f.endpoint("beta", "b")
	f.attempts(a, 0, 10, t0)
	f.attempts(b, 0, 10, t0)
	n := &fakeNotifier{brokenFor: "acme"}
	err := maintain.AutoDisableTask(f.s, n, maintain.DefaultAutoDisable()).Run(ctx, t0.Add(120*time.Hour))
	if err == nil || !strings.Contains(err.Error(), "notifier broke") {
		t.Fatalf("Run = %v, want the notifier's panic", err)
	}
	if got := n.take(); len(got) != 1 || got[0].tenant != "beta" {
		t.Fatalf("notices = %+v, want beta's", got)
	}
	if f.find(a).State != hookd.EndpointDisabled || f.find(b).State != hookd.EndpointDisabled {
		t.Fatal("endpoints not disabled")
	}
}

var errBroken = errors.New("database on fire")
