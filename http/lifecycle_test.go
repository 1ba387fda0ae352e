package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
)

// fakeTester answers test requests without sending anything.
type fakeTester struct {
	mu     sync.Mutex
	status int
	got    []*hookd.Endpoint
	events []*hookd.Event
}

func (f *fakeTester) Test(_ context.Context, ep *hookd.Endpoint, ev *hookd.Event) *hookd.TestResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got, f.events = append(f.got, ep), append(f.events, ev)
	return &hookd.TestResult{At: ev.CreatedAt, URL: ep.URL, EventID: ev.ID, Success: f.status < 300, StatusCode: f.status,
		LatencyMS: 3.5, Body: "ok"}
}

// notes records operational events.
type notes struct {
	mu     sync.Mutex
	events []*hookd.Event
}

func (n *notes) Notify(_ context.Context, _ string, events ...*hookd.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, events...)
}

// types returns the types notified so far, in order.
func (n *notes) types() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, ev := range n.events {
		out = append(out, ev.Type)
	}
	return out
}

func (e *env) endpoint(t *testing.T, events ...string) map[string]any {
	t.Helper()
	return e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{"url": "https://example.com/hook", "events": events})
}

// Pause holds new deliveries and resume releases them; disable creates none
// and shows who did it; each verb refuses a state it does not leave.
func TestEndpointStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.endpoint(t, "*")
	base := "/v1/tenants/acme/endpoints/" + ep["id"].(string)
	ctx := context.Background()
	claimable := func() int {
		t.Helper()
		got, err := e.store.ClaimDeliveries(ctx, hookd.Claim{Owner: "t", Now: e.clock.Now().Add(time.Hour), Limit: 100, Lease: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}

	paused := e.want(t, 200, e.admin, "POST", base+"/pause", map[string]any{"reason": "maintenance window"})
	if paused["state"] != "paused" || paused["state_reason"] != "maintenance window" || paused["state_changed_at"] == nil {
		t.Fatalf("paused = %v", paused)
	}
	e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a.b", "data": 1})
	if n := claimable(); n != 0 {
		t.Fatalf("%d deliveries of a paused endpoint claimable", n)
	}
	e.want(t, 409, e.admin, "POST", base+"/enable", nil)
	wakes := e.wakes.Load()
	if got := e.want(t, 200, e.admin, "POST", base+"/resume", nil); got["state"] != "enabled" || got["state_reason"] != nil {
		t.Fatalf("resumed = %v", got)
	}
	if e.wakes.Load() == wakes {
		t.Fatal("resume did not wake the dispatcher")
	}
	if n := claimable(); n != 1 {
		t.Fatalf("backlog after resume: %d claimable, want 1", n)
	}

	disabled := e.want(t, 200, e.admin, "POST", base+"/disable", nil)
	if disabled["state"] != "disabled" || disabled["state_reason"] == "" {
		t.Fatalf("disabled = %v", disabled)
	}
	pub := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a.b", "data": 2})
	if pub["deliveries"] != float64(0) {
		t.Fatalf("a disabled endpoint got a delivery: %v", pub)
	}
	e.want(t, 409, e.admin, "POST", base+"/pause", nil)
	e.want(t, 409, e.admin, "POST", base+"/resume", nil)
	e.want(t, 200, e.admin, "POST", base+"/disable", nil) // already: no change
	e.want(t, 400, e.admin, "POST", base+"/disable", map[string]any{"reson": "typo"})
	e.want(t, 404, e.admin, "POST", "/v1/tenants/acme/endpoints/ep_nope/disable", nil)
	e.want(t, 403, e.viewer, "POST", base+"/enable", nil)
	if got := e.want(t, 200, e.admin, "POST", base+"/enable", nil); got["state"] != "enabled" {
		t.Fatalf("enabled = %v", got)
	}
	want := fmt.Sprint([]string{hookd.TypeEndpointCreated, hookd.TypeEndpointDisabled})
	if got := fmt.Sprint(e.notes.types()); got != want {
		t.Fatalf("notified %s, want %s", got, want)
	}
}

// Rotation returns a new secret once, keeps the old one signing for the
// overlap (24 h by default, 0 allowed) and never shows secret values after.
func TestRotateSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.endpoint(t, "*")
	id := ep["id"].(string)
	base := "/v1/tenants/acme/endpoints/" + id
	ctx := context.Background()

	got := e.want(t, 200, e.admin, "POST", base+"/rotate-secret", nil)
	secret, _ := got["secret"].(string)
	if secret == "" || secret == ep["secret"] {
		t.Fatalf("rotation answered secret %q (old %q)", secret, ep["secret"])
	}
	stored, err := e.store.FindEndpointByID(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	valid := stored.ValidSecrets(now)
	if len(valid) != 2 || valid[0] != secret || valid[1] != ep["secret"] {
		t.Fatal("after rotation the new and the old secret must both sign, new first")
	}
	if v := stored.ValidSecrets(now.Add(24*time.Hour - time.Second)); len(v) != 2 {
		t.Fatal("the old secret stopped signing before 24 h")
	}
	if v := stored.ValidSecrets(now.Add(24 * time.Hour)); len(v) != 1 || v[0] != secret {
		t.Fatal("the old secret still signs after 24 h")
	}
	for _, r := range []any{e.want(t, 200, e.viewer, "GET", base, nil), e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/endpoints", nil)} {
		if b, _ := json.Marshal(r); containsAny(string(b), secret, ep["secret"].(string)) {
			t.Fatal("a read shows a secret")
		}
	}

	// overlap 0: only the new secret signs; a caller may bring its own.
	own := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got = e.want(t, 200, e.admin, "POST", base+"/rotate-secret", map[string]any{"overlap": "0s", "secret": own})
	if got["secret"] != own {
		t.Fatalf("rotation with a given secret answered %v", got["secret"])
	}
	stored, _ = e.store.FindEndpointByID(ctx, "acme", id)
	if v := stored.ValidSecrets(e.clock.Now()); len(v) != 1 || v[0] != own {
		t.Fatalf("with overlap 0 %d secrets sign", len(v))
	}
	for _, bad := range []map[string]any{{"overlap": "-1s"}, {"overlap": "2000h"}, {"secret": "nope"}, {"secret": own}, {"overlap": "soon"}} {
		e.want(t, 400, e.admin, "POST", base+"/rotate-secret", bad)
	}
	stored2, _ := e.store.FindEndpointByID(ctx, "acme", id)
	if len(stored2.Secrets) != 1 || stored2.Secrets[0].Value != own {
		t.Fatal("a refused rotation changed the secrets")
	}
	e.want(t, 403, e.viewer, "POST", base+"/rotate-secret", nil)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// A test request goes to the endpoint as a hookd.test event and is kept as
// the endpoint's last test; a probe does the same for a bare URL and
// stores nothing.
func TestEndpointTestAndProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.endpoint(t, "invoice.*")
	base := "/v1/tenants/acme/endpoints/" + ep["id"].(string)
	res := e.want(t, 200, e.admin, "POST", base+"/test", nil)
	if res["success"] != true || res["status_code"] != float64(204) || res["event_id"] == "" {
		t.Fatalf("test = %v", res)
	}
	if ev := e.tester.events[0]; ev.Type != hookd.TypeTest || ev.Origin != hookd.OriginTest || !json.Valid(ev.Payload) {
		t.Fatalf("test event = %+v", ev)
	}
	got := e.want(t, 200, e.viewer, "GET", base, nil)
	last, _ := got["last_test"].(map[string]any)
	if last == nil || last["status_code"] != float64(204) || last["event_id"] != res["event_id"] {
		t.Fatalf("last_test = %v", got["last_test"])
	}
	e.want(t, 404, e.admin, "POST", "/v1/tenants/acme/endpoints/ep_nope/test", nil)
	e.want(t, 403, e.viewer, "POST", base+"/test", nil)

	probe := e.want(t, 200, e.admin, "POST", "/v1/tenants/acme/probe", map[string]any{
		"url": "https://example.org/new", "signatures": []any{map[string]any{"scheme": "hmac", "header": "X-Hub-Signature-256"}},
	})
	if probe["success"] != true || probe["secret"] == nil {
		t.Fatalf("probe = %v", probe)
	}
	sent := e.tester.got[1]
	if sent.URL != "https://example.org/new" || sent.Signatures[0].Scheme != hookd.SchemeHMAC || len(sent.Secrets) != 1 {
		t.Fatalf("probed endpoint = %+v", sent)
	}
	given := e.want(t, 200, e.admin, "POST", "/v1/tenants/acme/probe", map[string]any{
		"url": "https://example.org/new", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if given["secret"] != nil {
		t.Fatal("a probe echoed the caller's secret")
	}
	for _, bad := range []map[string]any{{}, {"url": "ftp://x"}, {"url": "http://plain.example.com"}, {"url": "https://x.com", "secret": "s"}} {
		e.want(t, 400, e.admin, "POST", "/v1/tenants/acme/probe", bad)
	}
	list, _, _ := e.store.FindEndpoints(context.Background(), hookd.EndpointFilter{TenantID: "acme"})
	if len(list) != 1 {
		t.Fatalf("a probe stored an endpoint: %d endpoints", len(list))
	}

	e2 := newEnv(t, func(c *hookdhttp.Config) { c.Tester = nil })
	ep2 := e2.endpoint(t, "*")
	e2.want(t, 503, e2.admin, "POST", "/v1/tenants/acme/endpoints/"+ep2["id"].(string)+"/test", nil)
}

// Recover and replay take a window and answer how many deliveries were
// queued; bad windows change nothing.
func TestRecoverReplayAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.endpoint(t, "*")
	id := ep["id"].(string)
	base := "/v1/tenants/acme/endpoints/" + id
	ctx := context.Background()
	since := time.Now().Add(-time.Minute).UTC()
	for i := range 3 {
		e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a.b", "data": i})
	}
	at := time.Now().Add(time.Second)
	claimed, err := e.store.ClaimDeliveries(ctx, hookd.Claim{Owner: "n", Now: at, Limit: 10, Lease: time.Minute})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d: %v", len(claimed), err)
	}
	var rs []*hookd.DeliveryResult
	for i, cd := range claimed {
		r := &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: "acme", EndpointID: id, Owner: "n", State: hookd.DeliveryDead,
			Attempt: hookd.Attempt{Number: 1, StartedAt: e.clock.Now(), StatusCode: 500, Error: "HTTP 500", ErrorClass: hookd.ErrClassHTTP}}
		if i == 0 {
			r.State, r.Attempt.StatusCode, r.Attempt.Error, r.Attempt.ErrorClass = hookd.DeliverySucceeded, 200, "", ""
		}
		rs = append(rs, r)
	}
	if err := e.store.CompleteDeliveries(ctx, rs); err != nil {
		t.Fatal(err)
	}

	got := e.want(t, 200, e.viewer, "GET", base, nil)
	stats, _ := got["stats"].(map[string]any)
	if stats == nil || stats["succeeded"] != float64(1) || stats["failed"] != float64(2) || stats["window"] != "24h0m0s" {
		t.Fatalf("stats = %v", got["stats"])
	}
	if rate, _ := stats["success_rate"].(float64); rate < 0.33 || rate > 0.34 {
		t.Fatalf("success_rate = %v", stats["success_rate"])
	}
	list := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/endpoints", nil)
	if items := list["data"].([]any); items[0].(map[string]any)["stats"] == nil {
		t.Fatal("the list has no stats")
	}

	// The API's clock stands still at the test's start; the events are newer.
	window := map[string]any{"since": since.Format(time.RFC3339Nano), "until": time.Now().Add(time.Minute).Format(time.RFC3339Nano)}
	for _, bad := range []any{nil, map[string]any{}, map[string]any{"since": "yesterday"},
		map[string]any{"since": since.Format(time.RFC3339), "until": since.Add(-time.Hour).Format(time.RFC3339)},
		map[string]any{"since": since.Add(-100 * 24 * time.Hour).Format(time.RFC3339)}} {
		e.want(t, 400, e.admin, "POST", base+"/recover", bad)
	}
	e.want(t, 403, e.viewer, "POST", base+"/recover", window)
	e.want(t, 404, e.admin, "POST", "/v1/tenants/acme/endpoints/ep_nope/recover", window)
	if got := e.want(t, 200, e.admin, "POST", base+"/recover", window); got["deliveries"] != float64(2) {
		t.Fatalf("recover = %v", got)
	}
	// Replay sends the succeeded one again; the recovered two are pending
	// already and stay as they are.
	if got := e.want(t, 200, e.admin, "POST", base+"/replay", window); got["deliveries"] != float64(1) {
		t.Fatalf("replay = %v, want 1", got)
	}
	if got := e.want(t, 200, e.admin, "POST", base+"/replay", map[string]any{"since": time.Now().Add(time.Hour).Format(time.RFC3339),
		"until": time.Now().Add(2 * time.Hour).Format(time.RFC3339)}); got["deliveries"] != float64(0) {
		t.Fatalf("replay of an empty window = %v", got)
	}
	entries, _, _ := e.store.FindAuditEntries(ctx, hookd.AuditFilter{TenantID: "acme", Action: "endpoint.*"})
	var acts []string
	for _, en := range entries {
		acts = append(acts, en.Action)
	}
	if fmt.Sprint(acts[:3]) != fmt.Sprint([]string{hookd.ActionEndpointReplay, hookd.ActionEndpointReplay, hookd.ActionEndpointRecover}) {
		t.Fatalf("audit = %v", acts)
	}
}

// Endpoint changes are reported as operational events, which "*" does not
// take but "hookd.*" does.
func TestOperationalEndpointEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.endpoint(t, "*")
	id := ep["id"].(string)
	e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/endpoints/"+id, map[string]any{"description": "d"})
	e.want(t, 204, e.admin, "DELETE", "/v1/tenants/acme/endpoints/"+id, nil)
	want := fmt.Sprint([]string{hookd.TypeEndpointCreated, hookd.TypeEndpointUpdated, hookd.TypeEndpointDeleted})
	if got := fmt.Sprint(e.notes.types()); got != want {
		t.Fatalf("notified %s, want %s", got, want)
	}
	var body struct {
		Endpoint map[string]any `json:"endpoint"`
	}
	if err := json.Unmarshal(e.notes.events[1].Payload, &body); err != nil || body.Endpoint["id"] != id || body.Endpoint["secret"] != nil {
		t.Fatalf("payload %s: %v", e.notes.events[1].Payload, err)
	}

	all := &hookd.Endpoint{Events: []string{"*"}}
	ops := &hookd.Endpoint{Events: []string{"hookd.*"}}
	one := &hookd.Endpoint{Events: []string{hookd.TypeEndpointDisabled}}
	if all.Subscribes(hookd.TypeEndpointCreated) || !all.Subscribes("invoice.paid") || !ops.Subscribes(hookd.TypeDeliveryFailing) ||
		!one.Subscribes(hookd.TypeEndpointDisabled) || one.Subscribes(hookd.TypeEndpointCreated) {
		t.Fatal("subscriptions to operational events")
	}
}

// Mode is set on create and by PATCH, and checked.
func TestEndpointMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.endpoint(t, "*")
	if ep["mode"] != "at_least_once" {
		t.Fatalf("default mode = %v", ep["mode"])
	}
	base := "/v1/tenants/acme/endpoints/" + ep["id"].(string)
	if got := e.want(t, 200, e.admin, "PATCH", base, map[string]any{"mode": "fire_and_forget"}); got["mode"] != "fire_and_forget" {
		t.Fatalf("patched mode = %v", got["mode"])
	}
	e.want(t, 400, e.admin, "PATCH", base, map[string]any{"mode": "sometimes"})
	e.want(t, 400, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{"url": "https://example.com/x", "events": []string{"*"}, "mode": "x"})
	if got := e.want(t, 200, e.viewer, "GET", base, nil); got["mode"] != "fire_and_forget" {
		t.Fatalf("stored mode = %v", got["mode"])
	}
}

// An endpoint filter decides per event whether a delivery is made; a bad
// filter is refused and changes nothing.
func TestEndpointFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{"url": "https://example.com/hook",
		"events": []string{"invoice.*"}, "filter": map[string]any{"data.amount": map[string]any{"type": "gt", "pattern": 100}}})
	base := "/v1/tenants/acme/endpoints/" + ep["id"].(string)
	publish := func(amount int) float64 {
		t.Helper()
		return e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": amount}})["deliveries"].(float64)
	}
	if publish(150) != 1 || publish(50) != 0 {
		t.Fatal("the filter was not applied")
	}
	e.want(t, 400, e.admin, "PATCH", base, map[string]any{"filter": map[string]any{"data.amount": map[string]any{"type": "between"}}})
	e.want(t, 400, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{"url": "https://example.com/x", "events": []string{"*"},
		"filter": map[string]any{"x": map[string]any{"type": "regex", "pattern": "("}}})
	if got := e.want(t, 200, e.viewer, "GET", base, nil); got["filter"] == nil {
		t.Fatal("a refused change removed the filter")
	}
	e.want(t, 200, e.admin, "PATCH", base, map[string]any{"filter": nil})
	if publish(50) != 1 {
		t.Fatal("removing the filter did not take")
	}
}
