package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/signature"
)

func testEvent() *hookd.Event {
	return &hookd.Event{
		ID: hookd.NewID(hookd.PrefixEvent), TenantID: "acme", Type: hookd.TypeTest, Origin: hookd.OriginTest,
		Payload: json.RawMessage(`{"message": "This is a test event from hookd."}`), CreatedAt: time.Now(),
	}
}

func testEndpoint(url string, mutate func(*hookd.Endpoint)) *hookd.Endpoint {
	e := &hookd.Endpoint{ID: "ep_test", TenantID: "acme", URL: url, Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret()}}}
	if mutate != nil {
		mutate(e)
	}
	e.SetDefaults()
	return e
}

// A test send is signed like a delivery, with every scheme and every secret
// valid now (the official Standard Webhooks library verifies it with the
// current and the rotating secret, not with an expired one), works without
// Run, and reports status, latency and the start of the body.
func TestTestSendSignedLikeADelivery(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r, b
		mu.Unlock()
		// A 2-byte rune where the cut falls: the body kept ends before it.
		w.Write([]byte(strings.Repeat("x", hookd.TestBodyLimit-1) + "é" + strings.Repeat("y", 4000)))
	}))
	defer srv.Close()
	current, previous, expired := hookd.NewEndpointSecret(), hookd.NewEndpointSecret(), hookd.NewEndpointSecret()
	later, earlier := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	ep := testEndpoint(srv.URL, func(e *hookd.Endpoint) {
		e.Secrets = []hookd.Secret{{Value: current}, {Value: previous, ExpiresAt: &later}, {Value: expired, ExpiresAt: &earlier}}
		e.Signatures = []hookd.Signature{{Scheme: hookd.SchemeStandard}, {Scheme: hookd.SchemeHMAC, Header: "X-Hub-Signature-256"}}
		e.Headers = map[string]string{"X-Team": "billing"}
	})
	d := delivery.New(delivery.Config{UserAgent: "hookd/test"}) // never run
	ev := testEvent()
	res := d.Test(context.Background(), ep, ev)

	if !res.Success || res.StatusCode != 200 || res.Error != "" || res.ErrorClass != "" {
		t.Fatalf("result = %+v", res)
	}
	if res.URL != srv.URL || res.EventID != ev.ID || res.At.IsZero() || res.LatencyMS < 0 {
		t.Fatalf("result = %+v", res)
	}
	if res.Body != strings.Repeat("x", hookd.TestBodyLimit-1) {
		t.Fatalf("body: %d bytes (%q...), want the first %d, not cutting a rune", len(res.Body), res.Body[:min(len(res.Body), 10)], hookd.TestBodyLimit-1)
	}
	mu.Lock()
	r, b := got, body
	mu.Unlock()
	for _, sec := range []string{current, previous} {
		wh, _ := standardwebhooks.NewWebhook(sec)
		if err := wh.Verify(b, r.Header); err != nil {
			t.Fatalf("official verifier: %v", err)
		}
	}
	if wh, _ := standardwebhooks.NewWebhook(expired); wh.Verify(b, r.Header) == nil {
		t.Fatal("an expired secret still signs test sends")
	}
	if err := signature.VerifyHMAC(current, "X-Hub-Signature-256", r.Header, b); err != nil {
		t.Fatalf("hmac scheme: %v", err)
	}
	if !strings.HasPrefix(r.Header.Get("webhook-id"), hookd.PrefixDelivery+"_") {
		t.Fatalf("webhook-id %q, want a delivery id", r.Header.Get("webhook-id"))
	}
	if r.Header.Get("X-Team") != "billing" || r.Header.Get("User-Agent") != "hookd/test" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers = %v", r.Header)
	}
	if want := string(delivery.Envelope(ev.ID, ev.Type, ev.CreatedAt, ev.Payload)); string(b) != want {
		t.Fatalf("body %s, want %s", b, want)
	}

	// Each test is its own message.
	d.Test(context.Background(), ep, ev)
	mu.Lock()
	again := got.Header.Get("webhook-id")
	mu.Unlock()
	if again == r.Header.Get("webhook-id") {
		t.Fatal("two test sends share a webhook-id")
	}
}

// Failures: an error status, a timeout, and an address the guard refuses
// (the receiver never hears of it).
func TestTestSendFailures(t *testing.T) {
	t.Parallel()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("boom"))
	}))
	defer failing.Close()
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(stop) // runs before slow.Close, which waits for handlers
	var reached atomic.Bool
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }))
	defer guarded.Close()

	open := delivery.New(delivery.Config{})
	strict := delivery.New(delivery.Config{Guard: &delivery.Guard{}}) // loopback is refused
	tests := []struct {
		name   string
		d      *delivery.Dispatcher
		ep     *hookd.Endpoint
		status int
		class  string
		body   string
	}{
		{"500", open, testEndpoint(failing.URL, nil), 500, hookd.ErrClassHTTP, "boom"},
		{"timeout", open, testEndpoint(slow.URL, func(e *hookd.Endpoint) { e.Timeout = hookd.Duration(100 * time.Millisecond) }), 0, hookd.ErrClassTimeout, ""},
		{"blocked", strict, testEndpoint(guarded.URL, nil), 0, hookd.ErrClassBlocked, ""},
	}
	for _, tt := range tests {
		res := tt.d.Test(context.Background(), tt.ep, testEvent())
		if res.Success || res.StatusCode != tt.status || res.ErrorClass != tt.class || res.Error == "" || res.Body != tt.body {
			t.Errorf("%s: result = %+v", tt.name, res)
		}
	}
	if reached.Load() {
		t.Fatal("the guard let a test send reach a loopback address")
	}
}
