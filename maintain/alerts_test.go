package maintain_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/maintain"
)

// endpointAlertPayload is the payload of the endpoint alerts.
type endpointAlertPayload struct {
	Alert      string    `json:"alert"`
	EndpointID string    `json:"endpoint_id"`
	Window     string    `json:"window"`
	Rate       float64   `json:"rate"`
	Threshold  float64   `json:"threshold"`
	Attempts   int       `json:"attempts"`
	Succeeded  int       `json:"succeeded"`
	Failed     int       `json:"failed"`
	OpenedAt   time.Time `json:"opened_at"`
}

// resourcePayload is the payload of hookd.alert.resource_high.
type resourcePayload struct {
	Alert            string    `json:"alert"`
	Resource         string    `json:"resource"`
	Value            int64     `json:"value"`
	Threshold        int64     `json:"threshold"`
	Backlog          int       `json:"backlog"`
	MaxBacklog       int       `json:"max_backlog"`
	DatabaseBytes    int64     `json:"database_bytes"`
	MaxDatabaseBytes int64     `json:"max_database_bytes"`
	OpenedAt         time.Time `json:"opened_at"`
}

// only returns alert settings with just the given checks on.
func only(set func(c *maintain.Alerts)) maintain.Alerts {
	c := maintain.Alerts{}
	set(&c)
	return c
}

func spikeOnly() maintain.Alerts {
	return only(func(c *maintain.Alerts) { c.ErrorSpike = maintain.DefaultAlerts().ErrorSpike })
}

// wantAlert checks that got is exactly one alert of kind into tenant,
// opened at at under key, and returns it.
func wantAlert(t *testing.T, got []notice, tenant, kind, key string, at time.Time) *hookd.Event {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%d notices, want one %s: %+v", len(got), kind, got)
	}
	ev := got[0].ev
	wantKey := key + ":" + strconv.FormatInt(at.UnixNano(), 10)
	if got[0].tenant != tenant || ev.Type != kind || ev.Origin != hookd.OriginHookd || ev.IdempotencyKey != wantKey {
		t.Fatalf("notice into %s: %s origin %q key %q, want %s into %s key %q",
			got[0].tenant, ev.Type, ev.Origin, ev.IdempotencyKey, kind, tenant, wantKey)
	}
	return ev
}

func wantNone(t *testing.T, n *fakeNotifier, when string) {
	t.Helper()
	if got := n.take(); len(got) != 0 {
		t.Fatalf("%s: notified %+v", when, got)
	}
}

// wantResolved checks that key has no open incident (resolving it again
// finds none).
func wantResolved(t *testing.T, f *opsFixture, key string) {
	t.Helper()
	open, err := f.s.ResolveAlert(ctx, key, t0)
	must(t, err)
	if open {
		t.Fatalf("incident %s still open", key)
	}
}

func TestErrorSpikeFiresOncePerIncident(t *testing.T) {
	f := newOpsFixture(t)
	ep := f.endpoint("acme", "a")
	quiet := f.endpoint("acme", "quiet") // every attempt fails, but fewer than 20
	n := &fakeNotifier{}
	task := maintain.AlertsTask(f.s, n, spikeOnly())
	if task.Name != "alerts" || task.Every != time.Minute {
		t.Fatalf("task = %q every %v", task.Name, task.Every)
	}
	run := func(at time.Time) {
		t.Helper()
		must(t, task.Run(ctx, at))
	}
	key := "error_spike:" + ep.ID

	// Half failed: not above the threshold.
	f.attempts(ep, 15, 15, t0)
	f.attempts(quiet, 0, 19, t0)
	run(t0.Add(time.Minute))
	wantNone(t, n, "at a failure rate of 0.5")

	// 25 of 40 failed: fires once.
	f.attempts(ep, 0, 10, t0.Add(2*time.Minute))
	opened := t0.Add(3 * time.Minute)
	run(opened)
	ev := wantAlert(t, n.take(), "acme", hookd.TypeAlertErrorSpike, key, opened)
	p := decode[endpointAlertPayload](t, ev)
	if p != (endpointAlertPayload{Alert: hookd.TypeAlertErrorSpike, EndpointID: ep.ID, Window: "15m0s", Rate: 0.625,
		Threshold: 0.5, Attempts: 40, Succeeded: 15, Failed: 25, OpenedAt: opened}) {
		t.Fatalf("payload = %s", ev.Payload)
	}
	for i := range 3 { // while it holds, nothing more
		f.attempts(ep, 0, 1, opened)
		run(opened.Add(time.Duration(i+1) * time.Minute))
		wantNone(t, n, "while the spike holds")
	}

	// The rate falls back (45 ok, 28 failed): resolved, quietly.
	f.attempts(ep, 30, 0, t0.Add(7*time.Minute))
	run(t0.Add(7 * time.Minute))
	wantNone(t, n, "when the spike ends")
	wantResolved(t, f, key)

	// A new breach is a new incident.
	f.attempts(ep, 0, 40, t0.Add(8*time.Minute))
	again := t0.Add(9 * time.Minute)
	run(again)
	wantAlert(t, n.take(), "acme", hookd.TypeAlertErrorSpike, key, again)
	run(t0.Add(10 * time.Minute))
	wantNone(t, n, "while the second spike holds")

	// No attempts in the window any more: resolved.
	run(t0.Add(30 * time.Minute))
	wantNone(t, n, "after the window emptied")
	wantResolved(t, f, key)

	// And a third incident.
	f.attempts(ep, 0, 20, t0.Add(40*time.Minute))
	third := t0.Add(41 * time.Minute)
	run(third)
	wantAlert(t, n.take(), "acme", hookd.TypeAlertErrorSpike, key, third)
	run(t0.Add(42 * time.Minute))
	wantNone(t, n, "while the third spike holds")
}

func TestHealthLow(t *testing.T) {
	f := newOpsFixture(t)
	ep := f.endpoint("beta", "a")
	few := f.endpoint("beta", "few") // half fail, but only 80 attempts
	n := &fakeNotifier{}
	task := maintain.AlertsTask(f.s, n, only(func(c *maintain.Alerts) { c.HealthLow = maintain.DefaultAlerts().HealthLow }))
	key := "health_low:" + ep.ID

	f.attempts(ep, 95, 10, t0) // 0.905
	f.attempts(few, 40, 40, t0)
	must(t, task.Run(ctx, t0.Add(time.Minute)))
	wantNone(t, n, "at a success rate of 0.905")

	f.attempts(ep, 0, 5, t0.Add(time.Hour)) // 95 of 110: 0.8636...
	opened := t0.Add(time.Hour + time.Minute)
	must(t, task.Run(ctx, opened))
	ev := wantAlert(t, n.take(), "beta", hookd.TypeAlertHealthLow, key, opened)
	p := decode[endpointAlertPayload](t, ev)
	if p.Alert != hookd.TypeAlertHealthLow || p.EndpointID != ep.ID || p.Window != "24h0m0s" || p.Threshold != 0.9 ||
		p.Attempts != 110 || p.Succeeded != 95 || p.Failed != 15 || p.Rate < 0.863 || p.Rate > 0.864 || !p.OpenedAt.Equal(opened) {
		t.Fatalf("payload = %s", ev.Payload)
	}
	must(t, task.Run(ctx, opened.Add(time.Hour)))
	wantNone(t, n, "while health is low")

	// A day later the old attempts are out of the window: resolved.
	must(t, task.Run(ctx, t0.Add(25*time.Hour)))
	wantNone(t, n, "after the window moved on")
	wantResolved(t, f, key)
}

func TestResourceHigh(t *testing.T) {
	f := newOpsFixture(t)
	ep := f.endpoint("acme", "a")
	n := &fakeNotifier{}
	task := maintain.AlertsTask(f.s, n, only(func(c *maintain.Alerts) { c.MaxBacklog = 5 }))

	f.publish(ep, 5, t0)
	must(t, task.Run(ctx, t0))
	wantNone(t, n, "at a backlog of 5")

	f.publish(ep, 1, t0)
	opened := t0.Add(time.Minute)
	must(t, task.Run(ctx, opened))
	ev := wantAlert(t, n.take(), hookd.DefaultTenant, hookd.TypeAlertResourceHigh, "resource_high:backlog", opened)
	p := decode[resourcePayload](t, ev)
	if p.Alert != hookd.TypeAlertResourceHigh || p.Resource != "backlog" || p.Value != 6 || p.Threshold != 5 ||
		p.Backlog != 6 || p.MaxBacklog != 5 || p.DatabaseBytes <= 0 || p.MaxDatabaseBytes != 0 || !p.OpenedAt.Equal(opened) {
		t.Fatalf("payload = %s", ev.Payload)
	}
	must(t, task.Run(ctx, opened.Add(time.Minute)))
	wantNone(t, n, "while the backlog is high")

	f.finish(ep, 6, t0.Add(3*time.Minute))
	must(t, task.Run(ctx, t0.Add(3*time.Minute)))
	wantNone(t, n, "when the backlog is gone")
	wantResolved(t, f, "resource_high:backlog")

	f.publish(ep, 6, t0.Add(4*time.Minute))
	must(t, task.Run(ctx, t0.Add(4*time.Minute)))
	wantAlert(t, n.take(), hookd.DefaultTenant, hookd.TypeAlertResourceHigh, "resource_high:backlog", t0.Add(4*time.Minute))

	// The database size, into another tenant.
	db := maintain.AlertsTask(f.s, n, only(func(c *maintain.Alerts) { c.MaxDatabaseBytes, c.Tenant = 1, "beta" }))
	must(t, db.Run(ctx, t0.Add(5*time.Minute)))
	ev = wantAlert(t, n.take(), "beta", hookd.TypeAlertResourceHigh, "resource_high:database", t0.Add(5*time.Minute))
	if p := decode[resourcePayload](t, ev); p.Resource != "database" || p.Value <= 1 || p.Threshold != 1 || p.MaxDatabaseBytes != 1 {
		t.Fatalf("payload = %s", ev.Payload)
	}
}

// brokenStore fails the calls named in fail and counts the alert writes.
type brokenStore struct {
	hookd.OpsStore
	fail   map[string]bool
	writes int
}

func (b *brokenStore) OpenAlert(ctx context.Context, a *hookd.Alert) (bool, error) {
	b.writes++
	return b.OpsStore.OpenAlert(ctx, a)
}

func (b *brokenStore) ResolveAlert(ctx context.Context, key string, at time.Time) (bool, error) {
	b.writes++
	return b.OpsStore.ResolveAlert(ctx, key, at)
}

func (b *brokenStore) EndpointStats(ctx context.Context, f hookd.StatsFilter) (map[string]*hookd.EndpointStats, error) {
	if b.fail["stats"] {
		return nil, errBroken
	}
	return b.OpsStore.EndpointStats(ctx, f)
}

func (b *brokenStore) Usage(ctx context.Context) (hookd.Usage, error) {
	if b.fail["usage"] {
		return hookd.Usage{}, errBroken
	}
	return b.OpsStore.Usage(ctx)
}

// A failing store call or a panicking Notifier stops one check; the
// others run, and the runner logs the failure.
func TestAlertChecksAreIndependent(t *testing.T) {
	f := newOpsFixture(t)
	a := f.endpoint("acme", "a")
	b := f.endpoint("beta", "b")
	f.attempts(a, 0, 30, t0)
	f.attempts(b, 0, 30, t0)
	f.publish(a, 3, t0) // a backlog
	c := spikeOnly()
	c.MaxBacklog = 2
	store := &brokenStore{OpsStore: f.s, fail: map[string]bool{"stats": true}}
	n := &fakeNotifier{brokenFor: "acme"}

	var logs syncBuffer
	clock := newFakeClock()
	clock.now = t0.Add(time.Minute)
	task := maintain.AlertsTask(store, n, c)
	ran := make(chan run, 10)
	inner := task.Run
	task.Run = func(ctx context.Context, now time.Time) error {
		err := inner(ctx, now)
		ran <- run{"alerts", now}
		return err
	}
	r, err := maintain.NewRunner(maintain.Local, []maintain.Task{task},
		maintain.Options{Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	must(t, err)
	stop := start(t, r)

	// The stats fail: the backlog still fires.
	next(t, ran, 1)
	wantAlert(t, n.take(), hookd.DefaultTenant, hookd.TypeAlertResourceHigh, "resource_high:backlog", t0.Add(time.Minute))

	// Usage fails and acme's notices panic: beta's spike still fires.
	store.fail = map[string]bool{"usage": true}
	clock.advance(t, 1, time.Minute)
	next(t, ran, 1)
	wantAlert(t, n.take(), "beta", hookd.TypeAlertErrorSpike, "error_spike:"+b.ID, t0.Add(2*time.Minute))

	// Everything works again: acme's incident opened (its notice was
	// lost with the panic) and fires no more; nothing else is new.
	store.fail, n.brokenFor = nil, ""
	clock.advance(t, 1, time.Minute)
	next(t, ran, 1)
	wantNone(t, n, "once everything works")
	stop()

	out := logs.String()
	for _, want := range []string{
		`msg="maintenance task failed" task=alerts err="alerts: error_spike: endpoint stats: database on fire"`,
		`resource_high: usage: database on fire`,
		`notifier broke`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// Two nodes take turns leading: each fires an incident once, and a node
// that leads again forgets what it knew, since the other may have resolved
// its incident and a new one may have begun.
func TestAlertsAcrossLeaders(t *testing.T) {
	f := newOpsFixture(t)
	ep := f.endpoint("acme", "a")
	key := "error_spike:" + ep.ID
	f.attempts(ep, 0, 25, t0)

	// Node 1 leads first and fires.
	n1, n2 := &fakeNotifier{}, &fakeNotifier{}
	clock, campaign := newFakeClock(), newFakeCampaign()
	clock.now = t0.Add(time.Minute)
	task := maintain.AlertsTask(f.s, n1, spikeOnly())
	ran := make(chan run, 10)
	inner := task.Run
	task.Run = func(ctx context.Context, now time.Time) error {
		err := inner(ctx, now)
		ran <- run{"alerts", now}
		return err
	}
	r, err := maintain.NewRunner(campaign.run, []maintain.Task{task}, maintain.Options{Clock: clock})
	must(t, err)
	start(t, r)
	campaign.elect <- struct{}{}
	next(t, ran, 1)
	wantAlert(t, n1.take(), "acme", hookd.TypeAlertErrorSpike, key, t0.Add(time.Minute))
	clock.advance(t, 1, 0)
	campaign.depose <- struct{}{}
	<-campaign.ended
	clock.forget()

	// Node 2 takes over: the incident is open, so nothing; it ends, and a
	// new one begins and fires on node 2.
	other := maintain.AlertsTask(f.s, n2, spikeOnly())
	must(t, other.Run(ctx, t0.Add(2*time.Minute)))
	wantNone(t, n2, "node 2 while node 1's incident is open")
	must(t, other.Run(ctx, t0.Add(30*time.Minute)))
	wantResolved(t, f, key)
	f.attempts(ep, 0, 25, t0.Add(40*time.Minute))
	must(t, other.Run(ctx, t0.Add(41*time.Minute)))
	wantAlert(t, n2.take(), "acme", hookd.TypeAlertErrorSpike, key, t0.Add(41*time.Minute))
	must(t, other.Run(ctx, t0.Add(60*time.Minute)))
	wantResolved(t, f, key)

	// A third incident while node 1 leads again: it fires there, although
	// node 1 last saw the first incident open.
	f.attempts(ep, 0, 25, t0.Add(70*time.Minute))
	clock.mu.Lock()
	clock.now = t0.Add(71 * time.Minute)
	clock.mu.Unlock()
	campaign.elect <- struct{}{}
	next(t, ran, 1)
	wantAlert(t, n1.take(), "acme", hookd.TypeAlertErrorSpike, key, t0.Add(71*time.Minute))
	wantNone(t, n2, "node 2 after node 1 took over")
}

// An incident whose endpoint is deleted is resolved; one whose endpoint
// stopped getting attempts is found and resolved by a node that did not
// open it (the first run of a term looks back twice the window).
func TestAlertsResolveVanishedSubjects(t *testing.T) {
	f := newOpsFixture(t)
	gone := f.endpoint("acme", "gone")
	stopped := f.endpoint("acme", "stopped")
	f.attempts(gone, 0, 25, t0)
	f.attempts(stopped, 0, 25, t0)
	n := &fakeNotifier{}
	task := maintain.AlertsTask(f.s, n, spikeOnly())
	must(t, task.Run(ctx, t0.Add(time.Minute)))
	if got := n.take(); len(got) != 2 {
		t.Fatalf("notices = %+v, want two spikes", got)
	}
	must(t, f.s.DeleteEndpoint(ctx, "acme", gone.ID))
	must(t, task.Run(ctx, t0.Add(2*time.Minute)))
	wantResolved(t, f, "error_spike:"+gone.ID)

	// A fresh node, 20 minutes later: stopped has no attempts in the
	// window, but within the lookback.
	fresh := maintain.AlertsTask(f.s, n, spikeOnly())
	must(t, fresh.Run(ctx, t0.Add(20*time.Minute)))
	wantResolved(t, f, "error_spike:"+stopped.ID)
	wantNone(t, n, "resolving")
}

// Once a term's first run has synced, a run where nothing changed writes
// nothing; a change writes once.
func TestQuietAlertRunsWriteNothing(t *testing.T) {
	f := newOpsFixture(t)
	var eps []*hookd.Endpoint
	for _, name := range []string{"a", "b", "c"} {
		ep := f.endpoint("acme", name)
		f.attempts(ep, 100, 0, t0)
		eps = append(eps, ep)
	}
	f.attempts(eps[0], 0, 150, t0) // a: spike and low health
	store := &brokenStore{OpsStore: f.s}
	n := &fakeNotifier{}
	c := maintain.DefaultAlerts()
	c.MaxDatabaseBytes = 1 << 40
	task := maintain.AlertsTask(store, n, c)
	must(t, task.Run(ctx, t0.Add(time.Minute)))
	// spike: 3 endpoints, health: 3, resource: backlog and database.
	if store.writes != 8 {
		t.Fatalf("first run: %d alert writes, want 8", store.writes)
	}
	if got := n.take(); len(got) != 2 || got[0].ev.Type != hookd.TypeAlertErrorSpike || got[1].ev.Type != hookd.TypeAlertHealthLow {
		t.Fatalf("notices = %+v", got)
	}
	store.writes = 0
	for i := range 3 {
		must(t, task.Run(ctx, t0.Add(time.Duration(2+i)*time.Minute)))
	}
	if store.writes != 0 {
		t.Fatalf("quiet runs: %d alert writes", store.writes)
	}
	f.attempts(eps[1], 0, 150, t0.Add(5*time.Minute)) // b: spike and low health
	must(t, task.Run(ctx, t0.Add(5*time.Minute)))
	if store.writes != 2 || len(n.take()) != 2 {
		t.Fatalf("a new spike: %d alert writes", store.writes)
	}
}

// An incident an earlier leader left open (here: opened straight in the
// store, for an endpoint far outside the look-back) is resolved by a new
// leader once its condition does not hold.
func TestAlertsResolveIncidentsOfEarlierLeaders(t *testing.T) {
	f := newOpsFixture(t)
	old := f.endpoint("acme", "old")
	key := "error_spike:" + old.ID
	if opened, err := f.s.OpenAlert(ctx, &hookd.Alert{Key: key, TenantID: "acme", Kind: hookd.TypeAlertErrorSpike,
		Subject: old.ID, Opened: t0.Add(-30 * 24 * time.Hour)}); err != nil || !opened {
		t.Fatalf("open: %v %v", opened, err)
	}
	n := &fakeNotifier{}
	must(t, maintain.AlertsTask(f.s, n, spikeOnly()).Run(ctx, t0))
	wantResolved(t, f, key)
	wantNone(t, n, "resolving an old incident")
	if open, err := f.s.OpenAlerts(ctx); err != nil || len(open) != 0 {
		t.Fatalf("open incidents = %+v, %v", open, err)
	}
}
