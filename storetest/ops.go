package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// The endpoint fields of issue #4 round-trip; enabling an endpoint starts
// its failure count afresh.
func testEndpointOpsFields(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	ep := endpoint(t, s, "acme", "*")
	if ep.Mode != hookd.ModeAtLeastOnce {
		t.Fatalf("default mode = %q", ep.Mode)
	}
	ff := hookd.ModeFireAndForget
	test := &hookd.TestResult{At: time.Now().UTC().Truncate(time.Millisecond), URL: ep.URL, EventID: "evt_1", Success: true,
		StatusCode: 204, LatencyMS: 12.5, Body: "ok"}
	filter := json.RawMessage(`{"data.amount": {"type": "gt", "pattern": 100}}`)
	_, err := s.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{Mode: &ff, LastTest: test, Filter: hookd.SetTo(filter)})
	must(t, err)
	got, err := s.FindEndpointByID(ctx, "acme", ep.ID)
	must(t, err)
	if string(got.Filter) != string(filter) {
		t.Fatalf("filter = %s, want it as written", got.Filter)
	}
	_, err = s.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{Filter: hookd.SetTo(nil)})
	must(t, err)
	if e, _ := s.FindEndpointByID(ctx, "acme", ep.ID); e.Filter != nil {
		t.Fatalf("filter after removing = %s", e.Filter)
	}
	if got.Mode != ff || got.LastTest == nil || got.LastTest.StatusCode != 204 || !sameTime(got.LastTest.At, test.At) || got.LastTest.Body != "ok" {
		t.Fatalf("after update: mode %q, last test %+v", got.Mode, got.LastTest)
	}

	// Two failures, then a person disables and enables it again.
	publish(t, s, "acme", "a", "b")
	at := future()
	completeAll(t, s, "n1", claim(t, s, "n1", at, 10), hookd.DeliveryFailed, at)
	got, _ = s.FindEndpointByID(ctx, "acme", ep.ID)
	if got.ConsecutiveFailures != 2 || got.FailingSince == nil || !sameTime(*got.FailingSince, at) {
		t.Fatalf("after two failures: %d failures since %v (want %v)", got.ConsecutiveFailures, got.FailingSince, at)
	}
	disabled, enabled := hookd.EndpointDisabled, hookd.EndpointEnabled
	reason := "by hand"
	_, err = s.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{State: &disabled, StateReason: &reason})
	must(t, err)
	got, _ = s.FindEndpointByID(ctx, "acme", ep.ID)
	if got.State != disabled || got.StateReason != reason || got.StateChanged == nil || got.ConsecutiveFailures != 2 {
		t.Fatalf("disabled: %+v", got)
	}
	_, err = s.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{State: &enabled})
	must(t, err)
	got, _ = s.FindEndpointByID(ctx, "acme", ep.ID)
	if got.State != enabled || got.StateReason != "" || got.ConsecutiveFailures != 0 || got.FailingSince != nil {
		t.Fatalf("enabled again: %+v", got)
	}
}

// Completions keep per-endpoint stats slots, the start of the current run
// of failures, and the count of throttled answers.
func testStatsAndFailing(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	ep := endpoint(t, s, "acme", "*")
	other := endpoint(t, s, "beta", "*")
	publish(t, s, "acme", "a", "b", "c", "d")
	publish(t, s, "beta", "a")
	at := future()
	got := claim(t, s, "n1", at, 10, other.ID)
	if len(got) != 4 {
		t.Fatalf("claimed %d", len(got))
	}
	// A success, then two failures, the second a throttling answer.
	fail1, fail2 := at.Add(time.Second), at.Add(2*time.Second)
	r0 := result(got[0], "n1", hookd.DeliverySucceeded, 200, at)
	r1 := result(got[1], "n1", hookd.DeliveryFailed, 500, fail1)
	r2 := result(got[2], "n1", hookd.DeliveryFailed, 429, fail2)
	r2.Throttled = true
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{r0, r1, r2}))
	e, _ := s.FindEndpointByID(ctx, "acme", ep.ID)
	if e.ConsecutiveFailures != 2 || e.FailingSince == nil || !sameTime(*e.FailingSince, fail1) {
		t.Fatalf("after success+2 failures: %d since %v, want since %v", e.ConsecutiveFailures, e.FailingSince, fail1)
	}
	d, err := s.FindDeliveryByID(ctx, "acme", got[2].ID)
	must(t, err)
	if d.Throttled != 1 || d.Attempts != 1 {
		t.Fatalf("throttled delivery: attempts %d throttled %d", d.Attempts, d.Throttled)
	}
	completeAll(t, s, "n1", claim(t, s, "n1", at, 10, ep.ID), hookd.DeliverySucceeded, at)

	stats, err := s.EndpointStats(ctx, hookd.StatsFilter{TenantID: "acme", Since: at.Add(-time.Hour)})
	must(t, err)
	st := stats[ep.ID]
	if len(stats) != 1 || st == nil || st.Succeeded != 1 || st.Failed != 2 || st.SuccessRate == nil || *st.SuccessRate < 0.33 || *st.SuccessRate > 0.34 {
		t.Fatalf("acme stats = %+v (%v)", stats, st)
	}
	all, err := s.EndpointStats(ctx, hookd.StatsFilter{Since: at.Add(-time.Hour)})
	must(t, err)
	if len(all) != 2 || all[other.ID].Succeeded != 1 || all[other.ID].TenantID != "beta" {
		t.Fatalf("stats of all tenants = %+v", all)
	}
	some, err := s.EndpointStats(ctx, hookd.StatsFilter{TenantID: "acme", EndpointIDs: []string{other.ID}, Since: at.Add(-time.Hour)})
	must(t, err)
	if len(some) != 0 {
		t.Fatalf("another tenant's endpoint counted: %+v", some)
	}
	later, err := s.EndpointStats(ctx, hookd.StatsFilter{TenantID: "acme", Since: at.Add(time.Hour)})
	must(t, err)
	if len(later) != 0 {
		t.Fatalf("stats after the window = %+v", later)
	}

	// A success ends the run of failures.
	rest := claim(t, s, "n1", at.Add(time.Hour), 10, other.ID)
	completeAll(t, s, "n1", rest, hookd.DeliverySucceeded, at.Add(time.Hour))
	e, _ = s.FindEndpointByID(ctx, "acme", ep.ID)
	if e.ConsecutiveFailures != 0 || e.FailingSince != nil {
		t.Fatalf("after a success: %d since %v", e.ConsecutiveFailures, e.FailingSince)
	}

	n, err := s.PruneStats(ctx, at.Add(2*time.Hour))
	must(t, err)
	if n == 0 {
		t.Fatal("PruneStats deleted nothing")
	}
	if all, _ := s.EndpointStats(ctx, hookd.StatsFilter{Since: at.Add(-time.Hour)}); len(all) != 0 {
		t.Fatalf("stats after prune = %+v", all)
	}
}

// Endpoints failing long enough with enough failures are disabled; others
// are not.
func testDisableFailing(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	long := endpoint(t, s, "acme", "a")
	few := endpoint(t, s, "acme", "b")
	recent := endpoint(t, s, "acme", "c")
	publish(t, s, "acme", "a", "a", "a", "b", "c", "c", "c")
	at := future()
	cds := claim(t, s, "n1", at, 10)
	var rs []*hookd.DeliveryResult
	for _, cd := range cds {
		when := at
		if cd.EndpointID == recent.ID {
			when = at.Add(time.Hour)
		}
		rs = append(rs, result(cd, "n1", hookd.DeliveryFailed, 500, when))
	}
	must(t, s.CompleteDeliveries(ctx, rs))
	out, err := s.DisableFailingEndpoints(ctx, at.Add(time.Minute), 3, "failing for 5 days", at.Add(2*time.Hour))
	must(t, err)
	if len(out) != 1 || out[0].ID != long.ID || out[0].State != hookd.EndpointDisabled || out[0].StateReason != "failing for 5 days" {
		t.Fatalf("disabled = %+v", out)
	}
	for _, id := range []string{few.ID, recent.ID} {
		if e, _ := s.FindEndpointByID(ctx, "acme", id); e.State != hookd.EndpointEnabled {
			t.Fatalf("endpoint %s disabled", id)
		}
	}
	again, err := s.DisableFailingEndpoints(ctx, at.Add(time.Minute), 3, "x", at.Add(2*time.Hour))
	must(t, err)
	if len(again) != 0 {
		t.Fatalf("disabled twice: %+v", again)
	}
}

// Recover re-queues failed and dead deliveries of a window; replay re-sends
// every event of a window, keeping delivery ids and adding deliveries for
// events the endpoint had none of.
func testRecoverReplay(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	ep := endpoint(t, s, "acme", "a.*")
	start := time.Now().Add(-time.Second)
	evs := publish(t, s, "acme", "a.ok", "a.dead", "a.failed", "b.other")
	end := time.Now().Add(time.Second)
	all := hookd.Window{Since: start, Until: end}
	at := future()
	cds := claim(t, s, "n1", at, 10)
	if len(cds) != 3 {
		t.Fatalf("claimed %d", len(cds))
	}
	okD, deadD, failedD := byEvent(cds, evs[0].ID)[0], byEvent(cds, evs[1].ID)[0], byEvent(cds, evs[2].ID)[0]
	rFail := result(failedD, "n1", hookd.DeliveryFailed, 500, at)
	rFail.NextAt = at.Add(24 * time.Hour)
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{
		result(okD, "n1", hookd.DeliverySucceeded, 200, at), result(deadD, "n1", hookd.DeliveryDead, 500, at), rFail}))

	_, err := s.RecoverDeliveries(ctx, "acme", "ep_nope", all, at)
	wantCode(t, err, hookd.ENOTFOUND)
	n, err := s.RecoverDeliveries(ctx, "acme", ep.ID, hookd.Window{Since: end, Until: end.Add(time.Hour)}, at)
	must(t, err)
	if n != 0 {
		t.Fatalf("recovered %d outside the window", n)
	}
	n, err = s.RecoverDeliveries(ctx, "acme", ep.ID, all, at)
	must(t, err)
	if n != 2 {
		t.Fatalf("recovered %d, want 2 (dead and failed)", n)
	}
	again := claim(t, s, "n1", at, 10)
	ids := []string{}
	for _, cd := range again {
		ids = append(ids, cd.ID)
		if !cd.Manual {
			t.Fatalf("recovered delivery %s not marked manual", cd.ID)
		}
	}
	slices.Sort(ids)
	want := []string{deadD.ID, failedD.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("claimed after recover %v, want %v", ids, want)
	}

	// Replay while those two are in flight: only the succeeded one again.
	n, err = s.ReplayEvents(ctx, "acme", ep.ID, all, hookd.MatchSubscribed, at)
	must(t, err)
	if n != 1 {
		t.Fatalf("replayed %d, want 1 (in-flight deliveries are left alone)", n)
	}
	completeAll(t, s, "n1", again, hookd.DeliverySucceeded, at)
	re := claim(t, s, "n1", at, 10)
	if len(re) != 1 || re[0].ID != okD.ID || !re[0].Manual {
		t.Fatalf("replay claimed %+v, want the succeeded delivery %s again", re, okD.ID)
	}
	completeAll(t, s, "n1", re, hookd.DeliverySucceeded, at)

	// A new endpoint gets deliveries for the window's events it wants.
	late := endpoint(t, s, "acme", "*")
	n, err = s.ReplayEvents(ctx, "acme", late.ID, all, hookd.MatchSubscribed, at)
	must(t, err)
	if n != 4 {
		t.Fatalf("replayed %d to a new endpoint, want 4", n)
	}
	if ids := deliveriesOf(t, s, "acme", evs[3].ID); len(ids) != 1 {
		t.Fatalf("the event's deliveries list lacks the replayed one: %v", ids)
	}
	if ids := deliveriesOf(t, s, "acme", evs[0].ID); len(ids) != 2 {
		t.Fatalf("event deliveries after replay: %v", ids)
	}
	onlyB := func(ep *hookd.Endpoint, ev *hookd.Event) bool { return ev.Type == "b.other" }
	newer := endpoint(t, s, "acme", "*")
	n, err = s.ReplayEvents(ctx, "acme", newer.ID, all, onlyB, at)
	must(t, err)
	if n != 1 {
		t.Fatalf("replay with a matcher queued %d, want 1", n)
	}
	if entries := auditLog(t, s, hookd.AuditFilter{TenantID: "acme", Action: hookd.ActionEndpointReplay}); len(entries) != 0 {
		t.Fatal("a change without a principal was audited")
	}
}

// Deliveries added by a replay keep their event from being purged until
// they are finished, and go with it.
func testPurgeLateDeliveries(t *testing.T, s hookd.Store) {
	p := purger(t, s)
	tenant(t, s, "acme")
	endpoint(t, s, "acme", "a")
	evs := publish(t, s, "acme", "a")
	at := future()
	completeAll(t, s, "n1", claim(t, s, "n1", at, 10), hookd.DeliverySucceeded, at)
	late := endpoint(t, s, "acme", "a")
	n, err := s.ReplayEvents(ctx, "acme", late.ID, hookd.Window{Since: at.Add(-time.Hour), Until: at}, hookd.MatchSubscribed, at)
	must(t, err)
	if n != 1 {
		t.Fatalf("replayed %d", n)
	}
	waitPast(at)
	res, err := p.Purge(ctx, hookd.PurgeRequest{Before: time.Now()})
	must(t, err)
	if res.Events != 0 || res.Kept != 1 || res.Deliveries != 0 || res.Attempts != 0 {
		t.Fatalf("purge with an unfinished late delivery = %+v", res)
	}
	ids := deliveriesOf(t, s, "acme", evs[0].ID)
	cds := claim(t, s, "n1", future(), 10)
	if len(cds) != 1 || cds[0].EndpointID != late.ID {
		t.Fatalf("claimed %+v", cds)
	}
	completeAll(t, s, "n1", cds, hookd.DeliverySucceeded, future())
	waitPast(future())
	res, err = p.Purge(ctx, hookd.PurgeRequest{Before: time.Now()})
	must(t, err)
	if res.Events != 1 || res.Deliveries != 2 || res.Attempts != 2 {
		t.Fatalf("purge = %+v, want the event with both deliveries and attempts", res)
	}
	wantGone(t, s, "acme", []string{evs[0].ID}, ids)
}

// An alert opens once per incident; the backlog is counted.
func testAlertsAndUsage(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	now := time.Now()
	a := &hookd.Alert{Key: "error_spike:ep_1", TenantID: "acme", Kind: "hookd.alert.error_spike", Subject: "ep_1", Opened: now}
	for i, want := range []bool{true, false} {
		opened, err := s.OpenAlert(ctx, a)
		must(t, err)
		if opened != want {
			t.Fatalf("open #%d = %v", i+1, opened)
		}
	}
	for i, want := range []bool{true, false} {
		resolved, err := s.ResolveAlert(ctx, a.Key, now)
		must(t, err)
		if resolved != want {
			t.Fatalf("resolve #%d = %v", i+1, resolved)
		}
	}
	if opened, err := s.OpenAlert(ctx, a); err != nil || !opened {
		t.Fatalf("a new incident after resolving: %v %v", opened, err)
	}
	other := &hookd.Alert{Key: "resource_high:backlog", Kind: "hookd.alert.resource_high", Subject: "backlog", Opened: now}
	if _, err := s.OpenAlert(ctx, other); err != nil {
		t.Fatal(err)
	}
	open, err := s.OpenAlerts(ctx)
	must(t, err)
	if len(open) != 2 || open[0].Key != a.Key || open[0].TenantID != "acme" || open[1].Key != other.Key || !sameTime(open[1].Opened, now) {
		t.Fatalf("open alerts = %+v", open)
	}

	endpoint(t, s, "acme", "*")
	publish(t, s, "acme", "a", "b", "c")
	u, err := s.Usage(ctx)
	must(t, err)
	if u.Backlog != 3 || u.DatabaseBytes <= 0 {
		t.Fatalf("usage = %+v", u)
	}
	at := future()
	completeAll(t, s, "n1", claim(t, s, "n1", at, 1), hookd.DeliverySucceeded, at)
	if u, _ := s.Usage(ctx); u.Backlog != 2 {
		t.Fatalf("backlog after one success = %d", u.Backlog)
	}
}

// sameTime compares times as stored: PostgreSQL keeps microseconds.
func sameTime(a, b time.Time) bool { return a.Sub(b).Abs() < time.Microsecond }
