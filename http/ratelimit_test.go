package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// A client over its rate gets 429 with Retry-After and a JSON error, before
// its credentials are even looked at; other clients and health checks are
// unaffected; the bucket refills with time.
func TestClientRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	s := NewServer(Config{Store: nil, ClientRate: 2, ClientBurst: 3, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	call := func(addr, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		if w := call("192.0.2.1:1000", "/v1/nope"); w.Code != http.StatusUnauthorized {
			t.Fatalf("request %d: %d, want 401 (within the burst)", i, w.Code)
		}
	}
	w := call("192.0.2.1:1001", "/v1/nope")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the rate: %d Retry-After=%q", w.Code, w.Header().Get("Retry-After"))
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != "rate_limited" {
		t.Fatalf("body %s", w.Body)
	}
	if w := call("192.0.2.2:1000", "/v1/nope"); w.Code != http.StatusUnauthorized {
		t.Fatalf("another client: %d", w.Code)
	}
	if w := call("192.0.2.1:1000", "/healthz"); w.Code != http.StatusOK {
		t.Fatalf("health check limited: %d", w.Code)
	}
	// IPv6 clients share their /64.
	call("[2001:db8::1]:1", "/v1/nope")
	call("[2001:db8::2]:1", "/v1/nope")
	call("[2001:db8::3]:1", "/v1/nope")
	if w := call("[2001:db8::4]:1", "/v1/nope"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("fourth request of one /64: %d", w.Code)
	}
	mu.Lock()
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	mu.Unlock()
	if w := call("192.0.2.1:1000", "/v1/nope"); w.Code != http.StatusUnauthorized {
		t.Fatalf("after refill: %d", w.Code)
	}
	if w := call("192.0.2.1:1000", "/v1/nope"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("refill gave more than one token: %d", w.Code)
	}
}

func TestClientLimiterStaysBounded(t *testing.T) {
	l := newClientLimiter(1, 1)
	now := time.Unix(0, 0)
	for i := range maxClients + 10 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.allow(a, now)
	}
	if n := len(l.buckets); n > maxClients {
		t.Fatalf("%d buckets kept, bound is %d", n, maxClients)
	}
}
