package delivery

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// recorder is a hookd.Notifier that keeps its calls.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	tenant string
	events []*hookd.Event
}

var _ hookd.Notifier = (*recorder)(nil)

func (r *recorder) Notify(_ context.Context, tenantID string, events ...*hookd.Event) {
	r.mu.Lock()
	r.calls = append(r.calls, call{tenantID, events})
	r.mu.Unlock()
}

// notices: failing on the 4th counted failure that leaves a retry,
// exhausted on death (not after a 410, not fire_and_forget), recovered on a
// success after a failing notice was due, disabled on a 410; no delivery
// notices about operational events.
func TestNotices(t *testing.T) {
	t.Parallel()
	ten := make([]hookd.Duration, 10)
	four := make([]hookd.Duration, 4)
	tests := []struct {
		name      string
		mode      hookd.DeliveryMode
		schedule  []hookd.Duration
		eventType string
		attempts  int // before this one
		throttled int // before this one
		state     hookd.DeliveryState
		disable   bool
		counts    bool
		want      []string
	}{
		{"3rd failure", "", ten, "", 2, 0, hookd.DeliveryFailed, false, true, nil},
		{"4th failure", "", ten, "", 3, 0, hookd.DeliveryFailed, false, true, []string{hookd.TypeDeliveryFailing}},
		{"5th failure", "", ten, "", 4, 0, hookd.DeliveryFailed, false, true, nil},
		{"4th counted failure after 3 throttles", "", ten, "", 6, 3, hookd.DeliveryFailed, false, true, []string{hookd.TypeDeliveryFailing}},
		{"a forgiven throttle after 3 failures", "", ten, "", 3, 0, hookd.DeliveryFailed, false, false, nil},
		{"4th counted is the last: dead", "", four, "", 3, 0, hookd.DeliveryDead, false, true, []string{hookd.TypeDeliveryExhausted}},
		{"exhausted", "", ten, "", 9, 0, hookd.DeliveryDead, false, true, []string{hookd.TypeDeliveryExhausted}},
		{"410", "", ten, "", 0, 0, hookd.DeliveryDead, true, true, []string{hookd.TypeEndpointDisabled}},
		{"fire_and_forget dies quietly", hookd.ModeFireAndForget, ten, "", 0, 0, hookd.DeliveryDead, false, true, nil},
		{"fire_and_forget 410", hookd.ModeFireAndForget, ten, "", 0, 0, hookd.DeliveryDead, true, true, []string{hookd.TypeEndpointDisabled}},
		{"success after 3 counted", "", ten, "", 3, 0, hookd.DeliverySucceeded, false, true, nil},
		{"success after 4 counted", "", ten, "", 4, 0, hookd.DeliverySucceeded, false, true, []string{hookd.TypeDeliveryRecovered}},
		{"success after 6 attempts, 3 forgiven", "", ten, "", 6, 3, hookd.DeliverySucceeded, false, true, nil},
		{"success after 7 attempts, 3 forgiven", "", ten, "", 7, 3, hookd.DeliverySucceeded, false, true, []string{hookd.TypeDeliveryRecovered}},
		{"manual success after death", "", ten, "", 10, 0, hookd.DeliverySucceeded, false, true, []string{hookd.TypeDeliveryRecovered}},
		{"success: no failing was due (schedule of 4)", "", four, "", 4, 0, hookd.DeliverySucceeded, false, true, nil},
		{"fire_and_forget success after manual retries", hookd.ModeFireAndForget, ten, "", 5, 0, hookd.DeliverySucceeded, false, true, nil},
		{"operational event: no failing", "", ten, hookd.TypeDeliveryFailing, 3, 0, hookd.DeliveryFailed, false, true, nil},
		{"operational event: no exhausted", "", ten, hookd.TypeEndpointDisabled, 9, 0, hookd.DeliveryDead, false, true, nil},
		{"operational event: no recovered", "", ten, hookd.TypeTest, 4, 0, hookd.DeliverySucceeded, false, true, nil},
		{"operational event: 410 still disables", "", ten, hookd.TypeDeliveryExhausted, 0, 0, hookd.DeliveryDead, true, true, []string{hookd.TypeEndpointDisabled}},
	}
	for _, tt := range tests {
		ep := &hookd.Endpoint{ID: "ep_1", Name: "billing", URL: "https://example.com/hook", RetrySchedule: tt.schedule, Mode: tt.mode}
		typ := tt.eventType
		if typ == "" {
			typ = "invoice.paid"
		}
		cd := &hookd.ClaimedDelivery{Delivery: hookd.Delivery{ID: "msg_1", TenantID: "acme", EventID: "evt_1", EventType: typ,
			EndpointID: "ep_1", Attempts: tt.attempts, Throttled: tt.throttled}}
		res := &hookd.DeliveryResult{DeliveryID: "msg_1", TenantID: "acme", EndpointID: "ep_1", State: tt.state,
			Attempt: hookd.Attempt{Number: tt.attempts + 1, URL: ep.URL, StatusCode: 500, Error: "HTTP 500", ErrorClass: hookd.ErrClassHTTP}}
		if tt.disable {
			res.DisableReason = "The endpoint answered 410 Gone."
		}
		var got []string
		for _, ev := range notices(res, cd, ep, tt.counts) {
			got = append(got, ev.Type)
			if ev.TenantID != "acme" || ev.Origin != hookd.OriginHookd || ev.IdempotencyKey == "" || !json.Valid(ev.Payload) {
				t.Errorf("%s: event %+v", tt.name, ev)
			}
		}
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("%s: notices %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNoticePayloads(t *testing.T) {
	t.Parallel()
	updated := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ep := &hookd.Endpoint{ID: "ep_1", Name: "billing", URL: "https://example.com/hook", RetrySchedule: make([]hookd.Duration, 10), UpdatedAt: updated}
	cd := &hookd.ClaimedDelivery{Delivery: hookd.Delivery{ID: "msg_1", EventID: "evt_1", EventType: "invoice.paid", Attempts: 3}}
	next := time.Date(2026, 3, 2, 9, 1, 17, 0, time.UTC)
	res := &hookd.DeliveryResult{DeliveryID: "msg_1", TenantID: "acme", EndpointID: "ep_1", State: hookd.DeliveryFailed, NextAt: next,
		Attempt: hookd.Attempt{Number: 4, URL: "https://example.com/hook", StatusCode: 503, Error: "HTTP 503", ErrorClass: hookd.ErrClassHTTP}}
	evs := notices(res, cd, ep, true)
	if len(evs) != 1 {
		t.Fatalf("%d notices", len(evs))
	}
	want := `{"delivery_id":"msg_1","event_id":"evt_1","event_type":"invoice.paid","endpoint_id":"ep_1","endpoint_url":"https://example.com/hook","attempts":4,"status_code":503,"error":"HTTP 503","error_class":"http","next_attempt_at":"2026-03-02T09:01:17Z"}`
	if string(evs[0].Payload) != want || evs[0].IdempotencyKey != "hookd.delivery.failing:msg_1" {
		t.Fatalf("failing: %s (key %q)\nwant %s", evs[0].Payload, evs[0].IdempotencyKey, want)
	}

	res = &hookd.DeliveryResult{DeliveryID: "msg_1", TenantID: "acme", EndpointID: "ep_1", State: hookd.DeliveryDead,
		DisableReason: "The endpoint answered 410 Gone.", Attempt: hookd.Attempt{Number: 1, StatusCode: 410, Error: "HTTP 410"}}
	evs = notices(res, cd, ep, true)
	want = `{"endpoint":{"id":"ep_1","name":"billing","url":"https://example.com/hook","events":null,"state":"disabled","state_reason":"The endpoint answered 410 Gone.","consecutive_failures":0}}`
	if len(evs) != 1 || string(evs[0].Payload) != want || evs[0].Type != hookd.TypeEndpointDisabled {
		t.Fatalf("disabled: %s\nwant %s", evs[0].Payload, want)
	}
	if k := evs[0].IdempotencyKey; k != "hookd.endpoint.disabled:ep_1:"+strconv.FormatInt(updated.UnixNano(), 10) {
		t.Fatalf("disabled key %q", k)
	}

	res = &hookd.DeliveryResult{DeliveryID: "msg_1", TenantID: "acme", EndpointID: "ep_1", State: hookd.DeliveryDead,
		Attempt: hookd.Attempt{Number: 10, URL: ep.URL, Error: "timeout", ErrorClass: hookd.ErrClassTimeout}}
	cd.Attempts = 9
	evs = notices(res, cd, ep, true)
	var p map[string]any
	if len(evs) != 1 || json.Unmarshal(evs[0].Payload, &p) != nil || p["next_attempt_at"] != nil || p["attempts"] != 10.0 || p["error_class"] != "timeout" {
		t.Fatalf("exhausted: %+v", evs)
	}
}

// notify: only results that were stored (not stale), one call per tenant
// in batch order, each idempotency key once, nothing without a Notifier.
func TestNotify(t *testing.T) {
	t.Parallel()
	ev := func(tenant, key string) *hookd.Event {
		return &hookd.Event{TenantID: tenant, Type: hookd.TypeDeliveryFailing, IdempotencyKey: key, Origin: hookd.OriginHookd}
	}
	batch := []*outcome{
		{res: &hookd.DeliveryResult{}, notices: []*hookd.Event{ev("acme", "a1")}},
		{res: &hookd.DeliveryResult{Stale: true}, notices: []*hookd.Event{ev("acme", "stale")}},
		{res: &hookd.DeliveryResult{}, notices: []*hookd.Event{ev("globex", "g1"), ev("globex", "g2")}},
		{res: &hookd.DeliveryResult{}},
		{res: &hookd.DeliveryResult{}, notices: []*hookd.Event{ev("acme", "a2"), ev("acme", "a1")}},
	}
	rec := &recorder{}
	New(Config{Notifier: rec}).notify(batch)
	New(Config{}).notify(batch) // no Notifier: nothing, no panic
	if len(rec.calls) != 2 {
		t.Fatalf("%d calls, want one per tenant", len(rec.calls))
	}
	keys := func(c call) (out []string) {
		for _, e := range c.events {
			out = append(out, e.IdempotencyKey)
		}
		return out
	}
	if c := rec.calls[0]; c.tenant != "acme" || len(c.events) != 2 || keys(c)[0] != "a1" || keys(c)[1] != "a2" {
		t.Fatalf("first call %s %v", c.tenant, keys(c))
	}
	if c := rec.calls[1]; c.tenant != "globex" || len(c.events) != 2 || keys(c)[0] != "g1" || keys(c)[1] != "g2" {
		t.Fatalf("second call %s %v", c.tenant, keys(c))
	}
}
