package http_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	past := e.clock.Now().Add(-time.Minute)
	expired, _ := e.newKey(t, "acme", hookd.RoleAdmin, &past)
	revoked, k := e.newKey(t, "acme", hookd.RoleAdmin, nil)
	if err := e.store.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"missing":            "",
		"basic":              "Basic dXNlcjpwYXNz",
		"unknown key":        "Bearer " + hookd.NewAPIKeySecret(),
		"empty bearer":       "Bearer ",
		"bearer only":        "Bearer",
		"two tokens":         "Bearer " + e.admin + " x",
		"key without scheme": e.admin,
		"expired":            "Bearer " + expired,
		"revoked":            "Bearer " + revoked,
		"hash of the key":    "Bearer " + hookd.HashAPIKey(e.admin),
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.call(t, "", "GET", "/v1/tenants/acme/endpoints", nil, "Authorization", hdr)
			if r.status != 401 || errorCode(t, r.body) != "unauthorized" {
				t.Fatalf("status %d %s, want 401", r.status, r.raw)
			}
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
	// The scheme is case-insensitive.
	e.want(t, 200, "", "GET", "/v1/tenants/acme/endpoints", nil, "Authorization", "bearer "+e.admin)
	// Other errors carry no challenge.
	if r := e.call(t, e.admin, "GET", "/v1/tenants/acme/endpoints/ep_nope", nil); r.status != 404 || r.header.Get("WWW-Authenticate") != "" {
		t.Errorf("404 = %d with WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

// routes lists one request of every /v1 route for tenant.
func routes(tenant string) []struct{ method, path string } {
	base := "/v1/tenants/" + tenant
	return []struct{ method, path string }{
		{"POST", base + "/event-types"}, {"GET", base + "/event-types"},
		{"GET", base + "/event-types/a.b"}, {"PATCH", base + "/event-types/a.b"}, {"DELETE", base + "/event-types/a.b"},
		{"POST", base + "/endpoints"}, {"GET", base + "/endpoints"},
		{"GET", base + "/endpoints/ep_x"}, {"PATCH", base + "/endpoints/ep_x"}, {"DELETE", base + "/endpoints/ep_x"},
		{"POST", base + "/events"}, {"POST", base + "/events/batch"}, {"GET", base + "/events/evt_x"},
		{"GET", base + "/deliveries"}, {"GET", base + "/deliveries/msg_x"}, {"POST", base + "/deliveries/msg_x/retry"},
	}
}

// Another tenant's caller learns nothing: every route answers exactly what
// it answers for a tenant that does not exist.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t, "acme", nil)
	e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/event-types", map[string]any{"name": "a.b"})
	body := map[string]any{"url": "https://example.com/x", "events": []string{"*"}}

	want := e.want(t, 404, e.other, "GET", "/v1/tenants/ghost/endpoints", nil)
	if msg := want["error"].(map[string]any)["message"]; msg != "Tenant not found." {
		t.Fatalf("unknown tenant message = %q", msg)
	}
	for i, r := range routes("acme") {
		ghost := routes("ghost")[i]
		for name, key := range map[string]string{"admin of beta": e.other} {
			got := e.call(t, key, r.method, r.path, body)
			none := e.call(t, key, ghost.method, ghost.path, body)
			if got.status != 404 || string(got.raw) != string(none.raw) || got.status != none.status {
				t.Errorf("%s: %s %s = %d %s; for a missing tenant %d %s", name, r.method, r.path, got.status, got.raw, none.status, none.raw)
			}
		}
	}
	// Resource ids of acme are invisible from beta's own tenant too.
	e.want(t, 404, e.other, "GET", "/v1/tenants/beta/endpoints/"+ep["id"].(string), nil)
	// The superadmin sees every tenant, and the same 404 for a missing one.
	e.want(t, 200, e.super, "GET", "/v1/tenants/acme/endpoints/"+ep["id"].(string), nil)
	e.want(t, 200, e.super, "GET", "/v1/tenants/beta/endpoints", nil)
	if got := e.want(t, 404, e.super, "GET", "/v1/tenants/ghost/endpoints", nil); got["error"].(map[string]any)["message"] != "Tenant not found." {
		t.Fatalf("superadmin, unknown tenant: %v", got)
	}
}

// A viewer reads its tenant and gets 403 for every change.
func TestViewerCannotWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t, "acme", nil)
	e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/event-types", map[string]any{"name": "a.b"})
	for _, r := range routes("acme") {
		path := strings.Replace(r.path, "ep_x", ep["id"].(string), 1)
		got := e.call(t, e.viewer, r.method, path, map[string]any{})
		switch {
		case r.method == "GET" && got.status != 200 && got.status != 404:
			t.Errorf("viewer %s %s = %d %s", r.method, path, got.status, got.raw)
		case r.method != "GET" && (got.status != 403 || errorCode(t, got.body) != "forbidden"):
			t.Errorf("viewer %s %s = %d %s, want 403", r.method, path, got.status, got.raw)
		}
	}
	e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/endpoints/"+ep["id"].(string), nil)
	e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/event-types/a.b", nil)
	// Nothing changed.
	if l := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/endpoints", nil)); len(l) != 1 {
		t.Fatalf("endpoints after viewer writes = %d", len(l))
	}
	if l := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/event-types", nil)); len(l) != 1+len(hookd.OperationalEventTypes()) {
		t.Fatalf("event types after viewer writes = %d", len(l))
	}
}

// Key lookups are cached briefly, shared between concurrent requests, and
// last use is recorded at most once a minute.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/v1/tenants/acme/event-types"
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if r := e.call(t, e.admin, "GET", path, nil); r.status != 200 {
				t.Errorf("status %d %s", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	if n := e.spy.keyReads.Load(); n != 1 {
		t.Fatalf("40 requests with one key read the key %d times, want 1", n)
	}
	waitFor(t, "last use recorded", func() bool { return e.spy.touches.Load() == 1 })
	keys, _, err := e.store.FindAPIKeys(context.Background(), hookd.APIKeyFilter{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == e.adminID && (k.LastUsedAt == nil || !k.LastUsedAt.Equal(e.clock.Now())) {
			t.Fatalf("last_used_at = %v, want %v", k.LastUsedAt, e.clock.Now())
		}
	}

	// After the TTL the key is read again; revocation then takes effect.
	if err := e.store.RevokeAPIKey(context.Background(), e.adminID, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(3 * time.Second)
	e.want(t, 401, e.admin, "GET", path, nil)
	if n := e.spy.keyReads.Load(); n != 2 {
		t.Fatalf("key reads after the TTL = %d, want 2", n)
	}

	// Expiry is exact even while the key is cached.
	soon := e.clock.Now().Add(time.Minute)
	key, _ := e.newKey(t, "acme", hookd.RoleAdmin, &soon)
	e.want(t, 200, key, "GET", path, nil)
	e.clock.Add(time.Minute)
	e.want(t, 401, key, "GET", path, nil)

	// A viewer key used again after a minute is touched again.
	e.want(t, 200, e.viewer, "GET", path, nil)
	waitFor(t, "viewer use recorded", func() bool { return e.spy.touches.Load() == 3 })
	e.want(t, 200, e.viewer, "GET", path, nil)
	e.clock.Add(61 * time.Second)
	e.want(t, 200, e.viewer, "GET", path, nil)
	waitFor(t, "viewer use recorded again", func() bool { return e.spy.touches.Load() == 4 })

	// Unknown keys are not cached: each costs a read, and 401.
	before := e.spy.keyReads.Load()
	bad := hookd.NewAPIKeySecret()
	e.want(t, 401, bad, "GET", path, nil)
	e.want(t, 401, bad, "GET", path, nil)
	if n := e.spy.keyReads.Load() - before; n != 2 {
		t.Fatalf("unknown key reads = %d, want 2", n)
	}
	// A store that cannot read keys answers 503, not 401.
	e.spy.fail("FindAPIKeyByHash", hookd.Errorf(hookd.EUNAVAILABLE, "down"))
	if r := e.call(t, hookd.NewAPIKeySecret(), "GET", path, nil); r.status != http.StatusServiceUnavailable || r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("key read failing: %d %s", r.status, r.raw)
	}
}

// waitFor polls cond for up to 10 s: for work the API does off the request path.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
