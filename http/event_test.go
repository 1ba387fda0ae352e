package http_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
)

// deliveriesOf returns the deliveries of an event.
func (e *env) deliveriesOf(t *testing.T, tenant, eventID string) []map[string]any {
	t.Helper()
	return items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/"+tenant+"/deliveries?limit=500&event_id="+eventID, nil))
}

func TestPublishFanOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	all := e.createEndpoint(t, "acme", map[string]any{"url": "https://a.example.com", "events": []string{"*"}})
	e.createEndpoint(t, "acme", map[string]any{"url": "https://b.example.com", "events": []string{"invoice.*"}})
	e.createEndpoint(t, "acme", map[string]any{"url": "https://c.example.com", "events": []string{"invoice.paid"}})
	e.createEndpoint(t, "acme", map[string]any{"url": "https://d.example.com", "events": []string{"invoice.paid.late", "user.*"}})
	e.createEndpoint(t, "beta", map[string]any{"url": "https://e.example.com", "events": []string{"*"}})
	cases := []struct {
		typ  string
		want int
	}{
		{"invoice.paid", 3},
		{"invoice.sent", 2},
		{"invoice.paid.late", 3}, // *, invoice.*, exact
		{"invoicepaid", 1},
		{"user.created", 2},
		{"order", 1},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			wakes := e.wakes.Load()
			r := e.call(t, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": c.typ, "data": map[string]any{"n": 1}})
			out := r.body
			id, _ := out["id"].(string)
			if r.status != 202 || out["deliveries"] != float64(c.want) || !strings.HasPrefix(id, "evt_") || out["type"] != c.typ || out["created_at"] == nil {
				t.Fatalf("publish = %d %s, want 202 with %d deliveries", r.status, r.raw, c.want)
			}
			if r.header.Get("Idempotent-Replayed") != "" {
				t.Error("a first publish is marked replayed")
			}
			if got := len(e.deliveriesOf(t, "acme", id)); got != c.want {
				t.Fatalf("stored deliveries = %d, want %d", got, c.want)
			}
			if e.wakes.Load() != wakes+1 {
				t.Error("OnPublish was not called")
			}
		})
	}
	// Disabled by deletion: no delivery for the deleted endpoint, no wake without deliveries.
	e.want(t, 204, e.admin, "DELETE", "/v1/tenants/acme/endpoints/"+all["id"].(string), nil)
	wakes := e.wakes.Load()
	if out := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "order", "data": 1}); out["deliveries"] != 0.0 {
		t.Fatalf("publish to no endpoint = %v", out)
	}
	if e.wakes.Load() != wakes {
		t.Error("OnPublish called although nothing was stored")
	}
	// The event keeps its data: key order, number forms and characters
	// (the answer is compact JSON, so only white space may differ).
	data := `{"b":[1,2.50,"é<&>"],"a":null}`
	out := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", `{"type":"raw.check","data":`+strings.ReplaceAll(data, ",", ",  ")+`,"id":"mine-1"}`)
	if out["id"] != "mine-1" {
		t.Fatalf("caller's id not kept: %v", out)
	}
	got := e.call(t, e.viewer, "GET", "/v1/tenants/acme/events/mine-1", nil)
	if got.status != 200 || !strings.Contains(string(got.raw), `"data":`+data) || got.body["type"] != "raw.check" || got.body["origin"] != "api" {
		t.Fatalf("event = %d %s", got.status, got.raw)
	}
	e.want(t, 404, e.other, "GET", "/v1/tenants/acme/events/mine-1", nil)
	e.want(t, 404, e.other, "GET", "/v1/tenants/beta/events/mine-1", nil)
}

func TestPublishIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createEndpoint(t, "acme", nil)
	e.createEndpoint(t, "acme", map[string]any{"url": "https://b.example.com", "events": []string{"invoice.*"}})
	first := e.call(t, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "invoice.paid", "data": 1}, "Idempotency-Key", "order-1")
	if first.status != 202 || first.body["deliveries"] != 2.0 {
		t.Fatalf("first = %d %s", first.status, first.raw)
	}
	wakes := e.wakes.Load()
	again := e.call(t, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "user.created", "data": 2}, "Idempotency-Key", "order-1")
	if again.status != 202 || string(again.raw) != string(first.raw) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat = %d %s %v, want the first answer %s", again.status, again.raw, again.header, first.raw)
	}
	if e.wakes.Load() != wakes {
		t.Error("a replay woke the dispatcher")
	}
	if n := len(e.deliveriesOf(t, "acme", first.body["id"].(string))); n != 2 {
		t.Fatalf("deliveries after the repeat = %d, want 2", n)
	}
	if n := len(items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/deliveries", nil))); n != 2 {
		t.Fatalf("all deliveries = %d, want 2", n)
	}
	// Keys are per tenant: beta may use the same one.
	e.createEndpoint(t, "beta", nil)
	other := e.want(t, 202, e.other, "POST", "/v1/tenants/beta/events", map[string]any{"type": "a", "data": 1}, "Idempotency-Key", "order-1")
	if other["id"] == first.body["id"] {
		t.Fatal("another tenant's key replayed acme's event")
	}
	// A repeated event id is a replay as well.
	a := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "x", "data": 1, "id": "same"})
	r := e.call(t, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "x", "data": 1, "id": "same"})
	if r.body["id"] != a["id"] || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeated id = %s", r.raw)
	}
	// Key limits.
	e.want(t, 400, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "x", "data": 1}, "Idempotency-Key", strings.Repeat("k", 256))
	e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "x", "data": 1}, "Idempotency-Key", strings.Repeat("k", 255))
	e.want(t, 400, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "x", "data": 1, "idempotency_key": "in-body"})
}

func TestPublishBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createEndpoint(t, "acme", nil)
	path := "/v1/tenants/acme/events"
	big := `"` + strings.Repeat("x", 1<<20) + `"`
	cases := []struct {
		name   string
		status int
		body   string
	}{
		{"malformed", 400, `{"type":"a","data":`},
		{"unknown field", 400, `{"type":"a","data":1,"payload":2}`},
		{"trailing data", 400, `{"type":"a","data":1}{"type":"b","data":2}`},
		{"no data", 400, `{"type":"a"}`},
		{"no type", 400, `{"data":1}`},
		{"bad type", 400, `{"type":"no spaces","data":1}`},
		{"type not a string", 400, `{"type":1,"data":1}`},
		{"bad id", 400, `{"type":"a","data":1,"id":"a/b"}`},
		{"array body", 400, `[{"type":"a","data":1}]`},
		{"data over 1 MiB", 413, `{"type":"a","data":` + big + `}`},
		{"body far over the limit", 413, `{"type":"a","data":"` + strings.Repeat("x", 2<<20) + `"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.want(t, c.status, e.admin, "POST", path, c.body) })
	}
	if n := len(items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/deliveries", nil))); n != 0 {
		t.Fatalf("bad publishes created %d deliveries", n)
	}
	// Exactly 1 MiB of data is fine.
	e.want(t, 202, e.admin, "POST", path, `{"type":"a","data":"`+strings.Repeat("x", 1<<20-2)+`"}`)
}

func TestMaxBodyBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *hookdhttp.Config) { c.MaxBodyBytes = 100 })
	data := `"` + strings.Repeat("x", 120) + `"`
	e.want(t, 413, e.admin, "POST", "/v1/tenants/acme/events", `{"type":"a","data":`+data+`}`)
	out := e.want(t, 413, e.admin, "POST", "/v1/tenants/acme/events/batch", `{"events":[{"type":"a","data":1},{"type":"a","data":`+data+`}]}`)
	if msg := out["error"].(map[string]any)["message"].(string); !strings.HasPrefix(msg, "events[1]: ") {
		t.Fatalf("message = %q, want it to name events[1]", msg)
	}
	e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", `{"type":"a","data":"short"}`)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createEndpoint(t, "acme", nil)
	e.createEndpoint(t, "acme", map[string]any{"url": "https://b.example.com", "events": []string{"invoice.*"}})
	path := "/v1/tenants/acme/events/batch"

	out := e.want(t, 202, e.admin, "POST", path, map[string]any{"events": []map[string]any{
		{"type": "a.one", "data": 1, "id": "b-1"},
		{"type": "invoice.paid", "data": map[string]any{"x": 2}},
		{"type": "a.three", "data": "3", "idempotency_key": "k-3"},
	}})
	data := items(t, map[string]any{"data": out["data"], "next_cursor": ""})
	if len(out) != 1 || len(data) != 3 || data[0]["id"] != "b-1" || data[0]["deliveries"] != 1.0 || data[1]["deliveries"] != 2.0 || data[2]["deliveries"] != 1.0 {
		t.Fatalf("batch = %v", out)
	}
	for i, d := range data {
		if len(d) != 2 {
			t.Errorf("data[%d] = %v, want only id and deliveries", i, d)
		}
		ev := e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/events/"+d["id"].(string), nil)
		if want := []string{"a.one", "invoice.paid", "a.three"}[i]; ev["type"] != want {
			t.Errorf("event %d has type %v, want %s (order lost)", i, ev["type"], want)
		}
	}
	if ev := e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/events/"+data[2]["id"].(string), nil); ev["idempotency_key"] != "k-3" {
		t.Errorf("batch idempotency key not stored: %v", ev)
	}
	// A replayed batch answers the same ids and creates nothing.
	wakes := e.wakes.Load()
	again := e.want(t, 202, e.admin, "POST", path, map[string]any{"events": []map[string]any{
		{"type": "a.one", "data": 1, "id": "b-1"}, {"type": "a.three", "data": "3", "idempotency_key": "k-3"},
	}})
	if fmt.Sprint(again["data"]) != fmt.Sprint([]any{out["data"].([]any)[0], out["data"].([]any)[2]}) || e.wakes.Load() != wakes {
		t.Fatalf("replayed batch = %v", again)
	}
	if n := e.spy.publishes.Load(); n != 2 {
		t.Fatalf("2 batches made %d PublishEvents calls, want 2", n)
	}
	countAll := func() int {
		return len(items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/deliveries?limit=500", nil)))
	}
	before := countAll()
	if before != 4 {
		t.Fatalf("deliveries = %d, want 4", before)
	}

	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = map[string]any{"type": "a", "data": i, "id": fmt.Sprintf("many-%d", i)}
	}
	bad := []struct {
		name   string
		status int
		body   any
		msg    string
	}{
		{"1001 events", 413, map[string]any{"events": many}, "at most 1000"},
		{"no events", 400, map[string]any{"events": []any{}}, "at least one"},
		{"null events", 400, `{"events":null}`, "list"},
		{"missing events", 400, `{}`, "at least one"},
		{"events not a list", 400, `{"events":{"type":"a"}}`, "list"},
		{"not an object", 400, `[{"type":"a","data":1}]`, "object"},
		{"unknown top-level field", 400, `{"events":[{"type":"a","data":1}],"x":1}`, `"x"`},
		{"events twice", 400, `{"events":[{"type":"a","data":1}],"events":[{"type":"a","data":2}]}`, "twice"},
		{"invalid event", 400, map[string]any{"events": []map[string]any{
			{"type": "ok.one", "data": 1, "id": "c-1"}, {"type": "ok.two", "data": 2, "id": "c-2"}, {"type": "bad type", "data": 3}},
		}, "events[2]: "},
		{"event without data", 400, `{"events":[{"type":"a","data":1,"id":"c-1"},{"type":"a"}]}`, "events[1]: "},
		{"unknown field in an event", 400, `{"events":[{"type":"a","data":1,"id":"c-1","tipe":"b"}]}`, "events[0]: "},
		{"malformed", 400, `{"events":[{"type":"a","data":1,"id":"c-1"},`, "Malformed"},
		{"trailing data", 400, `{"events":[{"type":"a","data":1,"id":"c-1"}]}]`, "one JSON value"},
		{"long idempotency key", 400, `{"events":[{"type":"a","data":1,"idempotency_key":"` + strings.Repeat("k", 256) + `"}]}`, "events[0]: "},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			out := e.want(t, c.status, e.admin, "POST", path, c.body)
			if msg := out["error"].(map[string]any)["message"].(string); !strings.Contains(msg, c.msg) {
				t.Fatalf("message %q lacks %q", msg, c.msg)
			}
		})
	}
	// Nothing of the refused batches was stored.
	for _, id := range []string{"c-1", "c-2", "many-0", "many-999"} {
		e.want(t, 404, e.admin, "GET", "/v1/tenants/acme/events/"+id, nil)
	}
	if n := countAll(); n != before {
		t.Fatalf("refused batches created %d deliveries", n-before)
	}
	// Exactly 1000 is fine.
	out = e.want(t, 202, e.admin, "POST", path, map[string]any{"events": many[:1000]})
	if n := len(out["data"].([]any)); n != 1000 {
		t.Fatalf("batch of 1000 answered %d results", n)
	}
}

// fakeDispatcher takes handoffs the way delivery.Dispatcher does.
type fakeDispatcher struct {
	max int

	mu        sync.Mutex
	handoffs  int
	delivered [][]*hookd.ClaimedDelivery
}

func (d *fakeDispatcher) Handoff() *hookd.Handoff {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handoffs++
	if d.max == 0 {
		return nil
	}
	return &hookd.Handoff{Owner: "node-1", Until: time.Now().Add(time.Minute), Max: d.max}
}

func (d *fakeDispatcher) Deliver(h *hookd.Handoff, leased []*hookd.ClaimedDelivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delivered = append(d.delivered, leased)
}

func (d *fakeDispatcher) calls() (handoffs int, delivered [][]*hookd.ClaimedDelivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.handoffs, append([][]*hookd.ClaimedDelivery(nil), d.delivered...)
}

// Publishing leases new deliveries to the local dispatcher up to its room,
// and wakes it only for what it must still claim.
func TestPublishHandoff(t *testing.T) {
	t.Parallel()
	d := &fakeDispatcher{max: 2}
	e := newEnv(t, func(c *hookdhttp.Config) { c.Dispatcher = d })
	for range 3 {
		e.createEndpoint(t, "acme", nil)
	}
	wakes := e.wakes.Load()
	out := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1})
	handoffs, delivered := d.calls()
	if handoffs != 1 || len(delivered) != 1 || len(delivered[0]) != 2 || e.wakes.Load() != wakes+1 {
		t.Fatalf("handoffs %d, delivered %v, wakes %d: want 1, 2 leased, 1 wake", handoffs, delivered, e.wakes.Load()-wakes)
	}
	states := map[any]int{}
	for _, dl := range e.deliveriesOf(t, "acme", out["id"].(string)) {
		states[dl["state"]]++
	}
	if states["delivering"] != 2 || states["pending"] != 1 {
		t.Fatalf("delivery states = %v", states)
	}

	// Room for everything: no wake needed.
	d.mu.Lock()
	d.max = 10
	d.mu.Unlock()
	wakes = e.wakes.Load()
	e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events/batch", map[string]any{"events": []map[string]any{{"type": "a", "data": 1}, {"type": "b", "data": 2}}})
	if _, delivered = d.calls(); len(delivered[1]) != 6 || e.wakes.Load() != wakes {
		t.Fatalf("batch leased %d, woke %d times; want 6 and 0", len(delivered[1]), e.wakes.Load()-wakes)
	}

	// A failed publish still returns the reservation, with nothing leased.
	e.spy.fail("PublishEvents", hookd.Errorf(hookd.EUNAVAILABLE, "down"))
	e.want(t, 503, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1})
	handoffs, delivered = d.calls()
	if handoffs != 3 || len(delivered) != 3 || delivered[2] != nil {
		t.Fatalf("after a failure: %d handoffs, delivered %v", handoffs, delivered)
	}
	// Invalid input never reserves.
	e.want(t, 400, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a"})
	if handoffs, _ = d.calls(); handoffs != 3 {
		t.Fatalf("an invalid publish asked for a handoff")
	}
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep1 := e.createEndpoint(t, "acme", nil)["id"].(string)
	ep2 := e.createEndpoint(t, "acme", map[string]any{"url": "https://b.example.com", "events": []string{"b.*"}})["id"].(string)
	var events []string
	for i := range 5 {
		typ := "a"
		if i%2 == 0 {
			typ = "b.x"
		}
		events = append(events, e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": typ, "data": i})["id"].(string))
	}
	count := func(query string) int {
		return len(items(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/deliveries?limit=500&"+query, nil)))
	}
	for q, want := range map[string]int{"": 8, "endpoint_id=" + ep1: 5, "endpoint_id=" + ep2: 3, "event_id=" + events[0]: 2, "event_id=" + events[1]: 1,
		"state=pending": 8, "state=dead": 0, "endpoint_id=" + ep2 + "&event_id=" + events[1]: 0, "endpoint_id=ep_nope": 0} {
		if got := count(q); got != want {
			t.Errorf("deliveries?%s = %d, want %d", q, got, want)
		}
	}
	// Pages of 3 through 8 deliveries.
	seen, cursor, pages := map[string]bool{}, "", 0
	for {
		out := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/deliveries?limit=3&cursor="+cursor, nil)
		for _, d := range items(t, out) {
			seen[d["id"].(string)] = true
		}
		pages++
		if cursor, _ = out["next_cursor"].(string); cursor == "" || pages > 5 {
			break
		}
	}
	if pages != 3 || len(seen) != 8 {
		t.Fatalf("%d pages with %d deliveries, want 3 with 8", pages, len(seen))
	}

	// Make one delivery dead, as a dispatcher would, then retry it.
	ctx := context.Background()
	claimed, err := e.store.ClaimDeliveries(ctx, hookd.Claim{Owner: "test", Now: time.Now(), Limit: 1, Lease: time.Minute})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d", err, len(claimed))
	}
	c := claimed[0]
	id := c.ID
	path := "/v1/tenants/acme/deliveries/" + id
	if d := e.want(t, 200, e.viewer, "GET", path, nil); d["state"] != "delivering" {
		t.Fatalf("claimed delivery = %v", d)
	}
	e.want(t, 409, e.admin, "POST", path+"/retry", nil)
	err = e.store.CompleteDeliveries(ctx, []*hookd.DeliveryResult{{
		DeliveryID: id, TenantID: "acme", EndpointID: c.EndpointID, Owner: "test", State: hookd.DeliveryDead,
		Attempt: hookd.Attempt{Number: 1, Trigger: hookd.TriggerScheduled, URL: "https://example.com/hook", StartedAt: time.Now(),
			StatusCode: 500, Error: "HTTP 500", ErrorClass: hookd.ErrClassHTTP},
	}})
	if err != nil {
		t.Fatal(err)
	}
	d := e.want(t, 200, e.viewer, "GET", path, nil)
	log, _ := d["attempt_log"].([]any)
	if d["state"] != "dead" || len(log) != 1 || log[0].(map[string]any)["status_code"] != 500.0 {
		t.Fatalf("dead delivery = %v", d)
	}
	e.want(t, 403, e.viewer, "POST", path+"/retry", nil)
	wakes := e.wakes.Load()
	r := e.call(t, e.admin, "POST", path+"/retry", nil)
	// The store queues a retried delivery that has attempts as "failed"
	// (due now) and one without as "pending"; either way it is due again.
	queued := func(state any) bool { return state == "pending" || state == "failed" }
	if r.status != 202 || !queued(r.body["state"]) || r.body["id"] != id || r.body["next_attempt_at"] == nil || e.wakes.Load() != wakes+1 {
		t.Fatalf("retry = %d %s (wakes %d)", r.status, r.raw, e.wakes.Load()-wakes)
	}
	if d := e.want(t, 200, e.viewer, "GET", path, nil); !queued(d["state"]) {
		t.Fatalf("after retry: %v", d)
	}
	if got := count("state=dead"); got != 0 {
		t.Fatalf("dead deliveries after retry = %d", got)
	}
	again, err := e.store.ClaimDeliveries(ctx, hookd.Claim{Owner: "test", Now: time.Now(), Limit: 100, Lease: time.Minute})
	found := false
	for _, c := range again {
		found = found || (c.ID == id && c.Manual)
	}
	if err != nil || !found {
		t.Fatalf("the retried delivery is not due as a manual attempt: %v, %d claimed", err, len(again))
	}
	// A fresh delivery has an empty attempt log, not a missing one.
	other := e.deliveriesOf(t, "acme", events[1])[0]["id"].(string)
	if r := e.call(t, e.viewer, "GET", "/v1/tenants/acme/deliveries/"+other, nil); !strings.Contains(string(r.raw), `"attempt_log":[]`) {
		t.Fatalf("fresh delivery = %s", r.raw)
	}
	// Deleting the endpoint cancels its unfinished deliveries; retrying one is a conflict.
	e.want(t, 204, e.admin, "DELETE", "/v1/tenants/acme/endpoints/"+ep2, nil)
	cancelled := e.deliveriesOf(t, "acme", events[0])
	for _, d := range cancelled {
		if d["endpoint_id"] == ep2 {
			if d["state"] != "cancelled" {
				t.Fatalf("delivery of a deleted endpoint = %v", d)
			}
			e.want(t, 409, e.admin, "POST", "/v1/tenants/acme/deliveries/"+d["id"].(string)+"/retry", nil)
		}
	}
	e.want(t, 404, e.other, "GET", path, nil)
	e.want(t, 404, e.other, "GET", "/v1/tenants/beta/deliveries/"+id, nil)
}
