package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/sqlite"
)

type harness struct {
	t     *testing.T
	store *sqlite.Store
	d     *delivery.Dispatcher
	stop  func()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith runs a dispatcher whose config configure may change.
func newHarnessWith(t *testing.T, configure func(*delivery.Config)) *harness {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(context.Background(), &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	cfg := delivery.Config{Store: s, NodeID: "test", Poll: 20 * time.Millisecond, Lease: 5 * time.Second}
	if configure != nil {
		configure(&cfg)
	}
	d := delivery.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	h := &harness{t: t, store: s, d: d}
	h.stop = func() { cancel(); <-done }
	t.Cleanup(func() {
		h.stop()
		s.Close()
	})
	return h
}

func (h *harness) endpoint(url string, mutate func(*hookd.Endpoint)) (*hookd.Endpoint, string) {
	h.t.Helper()
	secret := hookd.NewEndpointSecret()
	e := &hookd.Endpoint{TenantID: "acme", URL: url, Events: []string{"*"}, Secrets: []hookd.Secret{{Value: secret}}}
	if mutate != nil {
		mutate(e)
	}
	e.SetDefaults()
	if err := h.store.CreateEndpoint(context.Background(), e); err != nil {
		h.t.Fatal(err)
	}
	return e, secret
}

func (h *harness) publish(n int) []*hookd.Event {
	h.t.Helper()
	return h.publishType("order.created", n)
}

func (h *harness) publishType(typ string, n int) []*hookd.Event {
	h.t.Helper()
	evs := make([]*hookd.Event, n)
	for i := range evs {
		evs[i] = &hookd.Event{Type: typ, Payload: json.RawMessage(`{"n": 1}`)}
	}
	if _, err := h.store.PublishEvents(context.Background(), "acme", evs, hookd.MatchSubscribed, nil); err != nil {
		h.t.Fatal(err)
	}
	h.d.Wake()
	return evs
}

func (h *harness) deliveries(ep string) []*hookd.Delivery {
	list, _, err := h.store.FindDeliveries(context.Background(), hookd.DeliveryFilter{TenantID: "acme", EndpointID: ep, Page: hookd.Page{Limit: 500}})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countState(list []*hookd.Delivery, st hookd.DeliveryState) int {
	n := 0
	for _, d := range list {
		if d.State == st {
			n++
		}
	}
	return n
}

// Requests carry the envelope, custom headers and a signature the official
// Standard Webhooks library accepts; success is recorded with the attempt.
func TestDeliversSignedRequests(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	var secret string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
		w.Header().Set("X-Receiver", "yes")
		w.Write([]byte("thanks"))
	}))
	defer srv.Close()
	ep, secret := h.endpoint(srv.URL, func(e *hookd.Endpoint) { e.Headers = map[string]string{"X-Team": "billing"} })
	evs := h.publish(1)
	eventually(t, "the delivery", func() bool { return countState(h.deliveries(ep.ID), hookd.DeliverySucceeded) == 1 })

	mu.Lock()
	r, body := got[0], bodies[0]
	mu.Unlock()
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(body, r.Header); err != nil {
		t.Fatalf("official verifier: %v", err)
	}
	if r.Header.Get("X-Team") != "billing" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers = %v", r.Header)
	}
	var env struct {
		ID, Type, Timestamp string
		Data                json.RawMessage
	}
	if err := json.Unmarshal(body, &env); err != nil || env.ID != evs[0].ID || env.Type != "order.created" || string(env.Data) != `{"n": 1}` {
		t.Fatalf("envelope = %s (%v)", body, err)
	}
	d := h.deliveries(ep.ID)[0]
	if r.Header.Get("webhook-id") != d.ID {
		t.Fatalf("webhook-id %q, want the delivery id %q", r.Header.Get("webhook-id"), d.ID)
	}
	full, _ := h.store.FindDeliveryByID(context.Background(), "acme", d.ID)
	a := full.AttemptLog[0]
	if a.StatusCode != 200 || a.ResponseBody != "thanks" || a.ResponseHeaders["X-Receiver"] != "yes" || a.Trigger != hookd.TriggerScheduled {
		t.Fatalf("attempt = %+v", a)
	}
}

// A slow endpoint holds only its own slots: a fast endpoint's deliveries
// all complete while the slow one still has work outstanding.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	var fastCount atomic.Int64
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fastCount.Add(1) }))
	defer fast.Close()
	slowEp, _ := h.endpoint(slow.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 2; e.Timeout = hookd.Duration(time.Minute) })
	fastEp, _ := h.endpoint(fast.URL, nil)
	h.publish(200)
	eventually(t, "the fast endpoint's 200 deliveries", func() bool { return countState(h.deliveries(fastEp.ID), hookd.DeliverySucceeded) == 200 })
	if n := countState(h.deliveries(slowEp.ID), hookd.DeliverySucceeded); n != 0 {
		t.Fatalf("slow endpoint finished %d deliveries while blocked", n)
	}
}

// 410 kills the delivery and disables the endpoint; 503 with Retry-After
// schedules the retry at that time; a manual retry is logged as manual.
func TestStatusHandling(t *testing.T) {
	h := newHarness(t)
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	var busy atomic.Bool
	busy.Store(true)
	throttled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if busy.Load() {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer throttled.Close()
	goneEp, _ := h.endpoint(gone.URL, nil)
	thrEp, _ := h.endpoint(throttled.URL, nil)
	start := time.Now()
	h.publish(1)

	eventually(t, "the 410", func() bool { return countState(h.deliveries(goneEp.ID), hookd.DeliveryDead) == 1 })
	e, _ := h.store.FindEndpointByID(context.Background(), "acme", goneEp.ID)
	if e.State != hookd.EndpointDisabled || e.StateReason == "" {
		t.Fatalf("after 410 the endpoint is %s (%q)", e.State, e.StateReason)
	}

	eventually(t, "the 503", func() bool { return countState(h.deliveries(thrEp.ID), hookd.DeliveryFailed) == 1 })
	d := h.deliveries(thrEp.ID)[0]
	if d.NextAttemptAt == nil || d.NextAttemptAt.Sub(start) < 59*time.Minute || d.NextAttemptAt.Sub(start) > 61*time.Minute {
		t.Fatalf("next attempt %v, want about an hour (Retry-After: 3600)", d.NextAttemptAt)
	}
	busy.Store(false)
	if _, err := h.store.RetryDelivery(context.Background(), "acme", d.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.d.Wake()
	eventually(t, "the manual retry", func() bool { return countState(h.deliveries(thrEp.ID), hookd.DeliverySucceeded) == 1 })
	full, _ := h.store.FindDeliveryByID(context.Background(), "acme", d.ID)
	if len(full.AttemptLog) != 2 || full.AttemptLog[1].Trigger != hookd.TriggerManual || full.AttemptLog[0].Trigger != hookd.TriggerScheduled {
		t.Fatalf("attempt log = %+v", full.AttemptLog)
	}
}

// Redirects are not followed; connection failures are classified.
func TestRedirectAndConnectionFailure(t *testing.T) {
	h := newHarness(t)
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redirect.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	rEp, _ := h.endpoint(redirect.URL, nil)
	dEp, _ := h.endpoint(deadURL, nil)
	h.publish(1)
	eventually(t, "both failures", func() bool {
		return countState(h.deliveries(rEp.ID), hookd.DeliveryFailed) == 1 && countState(h.deliveries(dEp.ID), hookd.DeliveryFailed) == 1
	})
	if followed.Load() {
		t.Fatal("a redirect was followed")
	}
	rd, _ := h.store.FindDeliveryByID(context.Background(), "acme", h.deliveries(rEp.ID)[0].ID)
	dd, _ := h.store.FindDeliveryByID(context.Background(), "acme", h.deliveries(dEp.ID)[0].ID)
	if rd.AttemptLog[0].ErrorClass != hookd.ErrClassRedirect || rd.AttemptLog[0].StatusCode != 302 {
		t.Fatalf("redirect attempt = %+v", rd.AttemptLog[0])
	}
	if dd.AttemptLog[0].ErrorClass != hookd.ErrClassConnection {
		t.Fatalf("refused attempt = %+v", dd.AttemptLog[0])
	}
}

// On shutdown, in-flight attempts finish and are recorded; nothing stays leased.
func TestShutdownLeavesNothingLeased(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(50 * time.Millisecond) }))
	defer srv.Close()
	ep, _ := h.endpoint(srv.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 4 })
	h.publish(100)
	eventually(t, "some deliveries", func() bool { return countState(h.deliveries(ep.ID), hookd.DeliverySucceeded) >= 8 })
	h.stop()
	list := h.deliveries(ep.ID)
	if n := countState(list, hookd.DeliveryDelivering); n != 0 {
		t.Fatalf("%d deliveries still leased after shutdown", n)
	}
	if countState(list, hookd.DeliverySucceeded)+countState(list, hookd.DeliveryPending) != 100 {
		t.Fatalf("states after shutdown: %d succeeded, %d pending", countState(list, hookd.DeliverySucceeded), countState(list, hookd.DeliveryPending))
	}
}

// Receivers that misbehave: too slow (timeout), a huge answer (stored
// truncated), a connection closed before any answer (connection error), and
// a 2xx whose body is cut short (still accepted: the status was given).
func TestMisbehavingReceivers(t *testing.T) {
	h := newHarness(t)
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(stop) // runs before slow.Close, which waits for handlers
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(strings.Repeat("x", 1<<20)))
	}))
	defer huge.Close()
	hijack := func(reply string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Write([]byte(reply))
				conn.Close()
			}
		}))
	}
	dropped := hijack("")
	defer dropped.Close()
	cut := hijack("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
	defer cut.Close()

	slowEp, _ := h.endpoint(slow.URL, func(e *hookd.Endpoint) { e.Timeout = hookd.Duration(200 * time.Millisecond) })
	hugeEp, _ := h.endpoint(huge.URL, nil)
	dropEp, _ := h.endpoint(dropped.URL, nil)
	cutEp, _ := h.endpoint(cut.URL, nil)
	h.publish(1)

	first := func(ep string, want hookd.DeliveryState) *hookd.Attempt {
		t.Helper()
		var a *hookd.Attempt
		eventually(t, "the first attempt to "+ep, func() bool {
			list := h.deliveries(ep)
			if len(list) != 1 || list[0].State != want {
				return false
			}
			d, _ := h.store.FindDeliveryByID(context.Background(), "acme", list[0].ID)
			a = d.AttemptLog[0]
			return true
		})
		return a
	}
	if a := first(slowEp.ID, hookd.DeliveryFailed); a.ErrorClass != hookd.ErrClassTimeout || a.StatusCode != 0 {
		t.Fatalf("slow receiver: %+v", a)
	}
	if a := first(hugeEp.ID, hookd.DeliveryFailed); a.StatusCode != 500 || len(a.ResponseBody) != 16<<10 {
		t.Fatalf("huge answer: status %d, stored body %d bytes (want 16 KiB)", a.StatusCode, len(a.ResponseBody))
	}
	if a := first(dropEp.ID, hookd.DeliveryFailed); a.ErrorClass != hookd.ErrClassConnection || a.StatusCode != 0 {
		t.Fatalf("dropped connection: %+v", a)
	}
	if a := first(cutEp.ID, hookd.DeliverySucceeded); a.StatusCode != 200 || a.ResponseBody != "partial" {
		t.Fatalf("cut-short 2xx: %+v", a)
	}
}
