package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
)

// notifications is a hookd.Notifier that keeps what it is told.
type notifications struct {
	mu    sync.Mutex
	calls []notifyCall
}

type notifyCall struct {
	tenant string
	events []*hookd.Event
}

var _ hookd.Notifier = (*notifications)(nil)

func (n *notifications) Notify(_ context.Context, tenantID string, events ...*hookd.Event) {
	n.mu.Lock()
	n.calls = append(n.calls, notifyCall{tenantID, events})
	n.mu.Unlock()
}

// byKey returns the events told so far by idempotency key; it fails the
// test if a call mixes tenants or a key comes twice.
func (n *notifications) byKey(t *testing.T) map[string]*hookd.Event {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]*hookd.Event{}
	for _, c := range n.calls {
		for _, ev := range c.events {
			if ev.TenantID != c.tenant || ev.Origin != hookd.OriginHookd {
				t.Fatalf("call for %s has event %+v", c.tenant, ev)
			}
			if out[ev.IdempotencyKey] != nil {
				t.Fatalf("notice %s told twice", ev.IdempotencyKey)
			}
			out[ev.IdempotencyKey] = ev
		}
	}
	return out
}

// The dispatcher tells the Notifier about deliveries failing (4th failed
// attempt), exhausted, recovered, and endpoints disabled by a 410, per
// tenant; never about fire_and_forget deaths or deliveries of operational
// events.
func TestDispatcherNotifies(t *testing.T) {
	t.Parallel()
	note := &notifications{}
	h := newHarnessWith(t, func(c *delivery.Config) { c.Notifier = note })
	ctx := context.Background()
	if err := h.store.CreateTenant(ctx, &hookd.Tenant{ID: "globex"}); err != nil {
		t.Fatal(err)
	}
	status := func(codes ...int) *httptest.Server {
		recv := &scripted{statuses: codes}
		srv := httptest.NewServer(recv)
		t.Cleanup(srv.Close)
		return srv
	}
	five := make([]hookd.Duration, 5) // five immediate attempts
	six := make([]hookd.Duration, 6)
	on := func(pattern string, schedule []hookd.Duration) func(*hookd.Endpoint) {
		return func(e *hookd.Endpoint) { e.Events, e.RetrySchedule = []string{pattern}, schedule }
	}
	exhausted, _ := h.endpoint(status(500).URL, on("a.*", five))
	recovers, _ := h.endpoint(status(500, 500, 500, 500, 200).URL, on("b.*", six))
	gone, _ := h.endpoint(status(410).URL, on("c.*", five))
	quiet, _ := h.endpoint(status(500).URL, func(e *hookd.Endpoint) {
		on("d.*", five)(e)
		e.Mode = hookd.ModeFireAndForget
	})
	ops, _ := h.endpoint(status(500).URL, on("hookd.*", five))
	other := &hookd.Endpoint{TenantID: "globex", Name: "other", URL: status(410).URL, Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret()}}}
	other.SetDefaults()
	if err := h.store.CreateEndpoint(ctx, other); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"a.x", "b.x", "c.x", "d.x", hookd.TypeDeliveryFailing} {
		h.publishType(typ, 1)
	}
	if _, err := h.store.PublishEvents(ctx, "globex", []*hookd.Event{{Type: "g.x", Payload: []byte(`{}`)}}, hookd.MatchSubscribed, nil); err != nil {
		t.Fatal(err)
	}
	h.d.Wake()

	final := map[string]hookd.DeliveryState{exhausted.ID: hookd.DeliveryDead, recovers.ID: hookd.DeliverySucceeded,
		gone.ID: hookd.DeliveryDead, quiet.ID: hookd.DeliveryDead, ops.ID: hookd.DeliveryDead}
	ids := map[string]string{} // endpoint -> delivery
	for ep, st := range final {
		eventually(t, "the delivery to "+ep, func() bool {
			list := h.deliveries(ep)
			return len(list) == 1 && list[0].State == st
		})
		ids[ep] = h.deliveries(ep)[0].ID
	}
	eventually(t, "globex's delivery", func() bool {
		list, _, _ := h.store.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "globex"})
		return len(list) == 1 && list[0].State == hookd.DeliveryDead
	})
	h.stop() // every stored result has been told

	got := note.byKey(t)
	want := map[string]string{ // key -> tenant
		hookd.TypeDeliveryFailing + ":" + ids[exhausted.ID]:   "acme",
		hookd.TypeDeliveryExhausted + ":" + ids[exhausted.ID]: "acme",
		hookd.TypeDeliveryFailing + ":" + ids[recovers.ID]:    "acme",
		hookd.TypeDeliveryRecovered + ":" + ids[recovers.ID]:  "acme",
	}
	var disabled []string
	for k, ev := range got {
		if ev.Type == hookd.TypeEndpointDisabled {
			disabled = append(disabled, ev.TenantID+" "+string(ev.Payload))
			continue
		}
		if want[k] != ev.TenantID || !strings.HasPrefix(k, ev.Type+":") {
			t.Errorf("unexpected notice %s: %s", k, ev.Payload)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("missing notice %s", k)
	}
	sort.Strings(disabled)
	wantDisabled := []string{
		`acme {"endpoint":{"id":"` + gone.ID + `","name":"","url":"` + gone.URL + `","events":["c.*"],"state":"disabled","state_reason":"The endpoint answered 410 Gone.","consecutive_failures":0}}`,
		`globex {"endpoint":{"id":"` + other.ID + `","name":"other","url":"` + other.URL + `","events":["*"],"state":"disabled","state_reason":"The endpoint answered 410 Gone.","consecutive_failures":0}}`,
	}
	if len(disabled) != 2 || disabled[0] != wantDisabled[0] || disabled[1] != wantDisabled[1] {
		t.Errorf("disabled notices:\n%v\nwant\n%v", disabled, wantDisabled)
	}

	var p struct {
		EventType     string  `json:"event_type"`
		EndpointURL   string  `json:"endpoint_url"`
		ErrorClass    string  `json:"error_class"`
		Attempts      int     `json:"attempts"`
		StatusCode    int     `json:"status_code"`
		NextAttemptAt *string `json:"next_attempt_at"`
	}
	failing := got[hookd.TypeDeliveryFailing+":"+ids[exhausted.ID]]
	if err := json.Unmarshal(failing.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Attempts != 4 || p.StatusCode != 500 || p.EventType != "a.x" || p.EndpointURL != exhausted.URL || p.ErrorClass != hookd.ErrClassHTTP || p.NextAttemptAt == nil {
		t.Errorf("failing payload %s", failing.Payload)
	}
	var q map[string]any
	json.Unmarshal(got[hookd.TypeDeliveryExhausted+":"+ids[exhausted.ID]].Payload, &q)
	if q["attempts"] != 5.0 || q["next_attempt_at"] != nil {
		t.Errorf("exhausted payload %v", q)
	}
	json.Unmarshal(got[hookd.TypeDeliveryRecovered+":"+ids[recovers.ID]].Payload, &q)
	if q["attempts"] != 5.0 || q["status_code"] != 200.0 || q["error"] != "" {
		t.Errorf("recovered payload %v", q)
	}
}

// fire_and_forget: one attempt, dead at once, never retried, even for a
// throttling answer; at_least_once retries the same failure.
func TestFireAndForget(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/throttle" {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	immediate := []hookd.Duration{0, 0, 0}
	ff := func(e *hookd.Endpoint) { e.Mode, e.RetrySchedule = hookd.ModeFireAndForget, immediate }
	ffEp, _ := h.endpoint(srv.URL+"/fail", ff)
	ffThrottle, _ := h.endpoint(srv.URL+"/throttle", ff)
	aloEp, _ := h.endpoint(srv.URL+"/retry", func(e *hookd.Endpoint) { e.RetrySchedule = immediate })
	h.publish(1)
	eventually(t, "the at_least_once delivery to die after its 3 attempts", func() bool {
		return countState(h.deliveries(aloEp.ID), hookd.DeliveryDead) == 1
	})
	for _, ep := range []string{ffEp.ID, ffThrottle.ID} {
		eventually(t, "the fire_and_forget delivery", func() bool { return countState(h.deliveries(ep), hookd.DeliveryDead) == 1 })
		d := h.delivery(ep)
		if d.Attempts != 1 || len(d.AttemptLog) != 1 || d.NextAttemptAt != nil {
			t.Fatalf("fire_and_forget delivery: %d attempts, next %v", d.Attempts, d.NextAttemptAt)
		}
	}
	h.stop()
	mu.Lock()
	defer mu.Unlock()
	if got["/fail"] != 1 || got["/throttle"] != 1 || got["/retry"] != 3 {
		t.Fatalf("requests %v, want fail 1, throttle 1, retry 3", got)
	}
}
