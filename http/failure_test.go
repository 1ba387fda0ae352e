package http_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
)

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A failing store answers 503 (or 500 for unexpected errors, without their
// text), and nothing is half-written.
func TestStoreFailure(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newEnv(t, func(c *hookdhttp.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ep := e.createEndpoint(t, "acme", map[string]any{"url": "https://example.com/hook", "events": []string{"*"}, "description": "before"})
	epPath := "/v1/tenants/acme/endpoints/" + ep["id"].(string)
	ev := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1})
	delivery := e.deliveriesOf(t, "acme", ev["id"].(string))[0]["id"].(string)
	countDeliveries := func() int {
		return len(items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/deliveries?limit=500", nil)))
	}
	before := countDeliveries()

	cases := []struct {
		name   string
		method string // store method that fails
		err    error
		status int
		req    func(t *testing.T) response
		check  func(t *testing.T) // nothing was written
	}{
		{
			name: "publish, store unavailable", method: "PublishEvents", err: hookd.Errorf(hookd.EUNAVAILABLE, "The database could not commit; nothing was written."), status: 503,
			req: func(t *testing.T) response {
				return e.call(t, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1, "id": "lost-1"}, "Idempotency-Key", "k1")
			},
			check: func(t *testing.T) { e.want(t, 404, e.admin, "GET", "/v1/tenants/acme/events/lost-1", nil) },
		},
		{
			name: "batch, store unavailable", method: "PublishEvents", err: hookd.Errorf(hookd.EUNAVAILABLE, "The database is unavailable."), status: 503,
			req: func(t *testing.T) response {
				return e.call(t, e.admin, "POST", "/v1/tenants/acme/events/batch", map[string]any{"events": []map[string]any{
					{"type": "a", "data": 1, "id": "lost-2"}, {"type": "a", "data": 2, "id": "lost-3"}}})
			},
			check: func(t *testing.T) { e.want(t, 404, e.admin, "GET", "/v1/tenants/acme/events/lost-2", nil) },
		},
		{
			name: "create endpoint, raw deadline error", method: "CreateEndpoint", err: fmt.Errorf("insert endpoint: %w", context.DeadlineExceeded), status: 503,
			req: func(t *testing.T) response {
				return e.call(t, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{"url": "https://x.example.com", "events": []string{"*"}})
			},
			check: func(t *testing.T) {
				if n := len(items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/endpoints", nil))); n != 1 {
					t.Fatalf("endpoints = %d, want 1", n)
				}
			},
		},
		{
			name: "patch endpoint, raw cancellation", method: "UpdateEndpoint", err: fmt.Errorf("update endpoint: %w", context.Canceled), status: 503,
			req: func(t *testing.T) response {
				return e.call(t, e.admin, "PATCH", epPath, map[string]any{"description": "after"})
			},
			check: func(t *testing.T) {
				if got := e.want(t, 200, e.admin, "GET", epPath, nil); got["description"] != "before" {
					t.Fatalf("endpoint changed: %v", got)
				}
			},
		},
		{
			name: "retry, store unavailable", method: "RetryDelivery", err: hookd.Errorf(hookd.EUNAVAILABLE, "down"), status: 503,
			req: func(t *testing.T) response {
				return e.call(t, e.admin, "POST", "/v1/tenants/acme/deliveries/"+delivery+"/retry", nil)
			},
			check: func(t *testing.T) {},
		},
		{
			name: "tenant lookup unavailable", method: "FindTenant", err: hookd.Errorf(hookd.EUNAVAILABLE, "down"), status: 503,
			req: func(t *testing.T) response {
				e.clock.Add(5 * time.Second) // past the tenant cache
				return e.call(t, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1, "id": "lost-4"})
			},
			check: func(t *testing.T) { e.want(t, 404, e.admin, "GET", "/v1/tenants/acme/events/lost-4", nil) },
		},
		{
			name: "unexpected error is internal and hidden", method: "FindEndpoints", err: errors.New("disk I/O error at /var/lib/hookd/SECRET-PATH"), status: 500,
			req: func(t *testing.T) response {
				return e.call(t, e.admin, "GET", "/v1/tenants/acme/endpoints", nil)
			},
			check: func(t *testing.T) {},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.spy.fail(c.method, c.err)
			r := c.req(t)
			e.spy.fail(c.method, nil)
			if r.status != c.status {
				t.Fatalf("status %d %s, want %d", r.status, r.raw, c.status)
			}
			code := errorCode(t, r.body)
			if c.status == 503 && (code != "unavailable" || r.header.Get("Retry-After") == "") {
				t.Errorf("code %q, Retry-After %q", code, r.header.Get("Retry-After"))
			}
			if c.status == 500 && (code != "internal" || strings.Contains(string(r.raw), "SECRET") || strings.Contains(string(r.raw), "disk")) {
				t.Errorf("internal error answer = %s", r.raw)
			}
			c.check(t)
			if n := countDeliveries(); n != before {
				t.Fatalf("deliveries = %d, want %d", n, before)
			}
		})
	}
	if !strings.Contains(logs.String(), "SECRET-PATH") {
		t.Error("the internal error was not logged")
	}

	// A closed store: 503 everywhere, health still fine.
	e.store.Close()
	e.want(t, 503, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1}, "Idempotency-Key", "k")
	e.clock.Add(5 * time.Second)
	e.want(t, 503, e.admin, "GET", "/v1/tenants/acme/endpoints", nil)
	e.want(t, 200, "", "GET", "/healthz", nil)

	// Keys and payloads never reach the logs.
	out := logs.String()
	for _, secret := range []string{e.admin, e.viewer, ep["secret"].(string), "Bearer"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}
