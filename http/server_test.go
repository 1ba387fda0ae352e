package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/sqlite"
)

type env struct {
	t      *testing.T
	store  *sqlite.Store
	srv    *httptest.Server
	super  string // superadmin key
	admin  string // admin of acme
	viewer string // viewer of acme
	other  string // admin of beta
	wakes  int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "api.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: s}
	api := hookdhttp.NewServer(hookdhttp.Config{Store: s, OnPublish: func() { e.wakes++ }})
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		s.Close()
	})
	ctx := context.Background()
	for _, id := range []string{"acme", "beta"} {
		if err := s.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(tenant string, role hookd.Role) string {
		k := hookd.NewAPIKeySecret()
		if err := s.CreateAPIKey(ctx, &hookd.APIKey{TenantID: tenant, Role: role, Hash: hookd.HashAPIKey(k)}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	e.super, e.admin, e.viewer, e.other = key("", hookd.RoleSuperadmin), key("acme", hookd.RoleAdmin), key("acme", hookd.RoleViewer), key("beta", hookd.RoleAdmin)
	return e
}

// do sends a request and returns the status and decoded JSON body.
func (e *env) do(key, method, path string, body any, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func (e *env) want(status int, key, method, path string, body any, hdr ...string) map[string]any {
	e.t.Helper()
	got, out := e.do(key, method, path, body, hdr...)
	if got != status {
		e.t.Fatalf("%s %s = %d %v, want %d", method, path, got, out, status)
	}
	if status >= 400 && strings.HasPrefix(path, "/v1") {
		er, _ := out["error"].(map[string]any)
		if er == nil || er["code"] == "" || er["message"] == "" {
			e.t.Fatalf("%s %s: error body %v lacks code/message", method, path, out)
		}
	}
	return out
}

func (e *env) createEndpoint(key, tenant string, body map[string]any) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{"url": "https://example.com/hook", "events": []string{"*"}}
	}
	return e.want(201, key, "POST", "/v1/tenants/"+tenant+"/endpoints", body)
}

func TestEndpointLifecycleAndSecretShownOnce(t *testing.T) {
	e := newEnv(t)
	created := e.createEndpoint(e.admin, "acme", map[string]any{
		"url": "https://example.com/hook", "events": []string{"invoice.*"}, "name": "billing",
		"headers": map[string]string{"X-Env": "prod"}, "timeout": "5s",
		"signatures": []map[string]string{{"scheme": "standard"}, {"scheme": "hmac", "header": "X-Hub-Signature-256"}},
	})
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("create response lacks the secret: %v", created)
	}
	id := created["id"].(string)
	path := "/v1/tenants/acme/endpoints/" + id
	for _, out := range []map[string]any{
		e.want(200, e.admin, "GET", path, nil),
		e.want(200, e.viewer, "GET", path, nil),
		e.want(200, e.admin, "PATCH", path, map[string]any{"description": "new"}),
	} {
		if _, ok := out["secret"]; ok {
			t.Fatalf("a response other than create shows the secret: %v", out)
		}
		if strings.Contains(fmt.Sprint(out), secret) {
			t.Fatal("the secret leaked")
		}
	}
	list := e.want(200, e.admin, "GET", "/v1/tenants/acme/endpoints", nil)
	if strings.Contains(fmt.Sprint(list), secret) || len(list["data"].([]any)) != 1 {
		t.Fatalf("list = %v", list)
	}
	got := e.want(200, e.admin, "GET", path, nil)
	if got["timeout"] != "5s" || got["description"] != "new" || got["name"] != "billing" || got["state"] != "enabled" {
		t.Fatalf("endpoint = %v", got)
	}
	// Caller-supplied secret.
	own := "whsec_" + strings.Repeat("QUJD", 8)
	c2 := e.createEndpoint(e.admin, "acme", map[string]any{"url": "https://example.com/2", "events": []string{"*"}, "secret": own})
	if c2["secret"] != own {
		t.Fatalf("supplied secret not used: %v", c2["secret"])
	}
	e.want(400, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{"url": "https://example.com/2", "events": []string{"*"}, "secret": "short"})

	e.want(204, e.admin, "DELETE", path, nil)
	e.want(404, e.admin, "GET", path, nil)
	e.want(404, e.admin, "DELETE", path, nil)
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	ep := "/v1/tenants/acme/endpoints"
	cases := []struct {
		name   string
		status int
		method string
		path   string
		body   any
		hdr    []string
	}{
		{"malformed JSON", 400, "POST", ep, `{"url": "https://x.com", `, nil},
		{"unknown field", 400, "POST", ep, map[string]any{"url": "https://x.com", "events": []string{"*"}, "evnts": 1}, nil},
		{"trailing data", 400, "POST", ep, `{"url":"https://x.com","events":["*"]} {}`, nil},
		{"wrong type", 400, "POST", ep, map[string]any{"url": 5, "events": []string{"*"}}, nil},
		{"empty body", 400, "POST", ep, "", nil},
		{"not JSON content type", 415, "POST", ep, `{}`, []string{"Content-Type", "text/plain"}},
		{"ftp URL", 400, "POST", ep, map[string]any{"url": "ftp://x.com/h", "events": []string{"*"}}, nil},
		{"http URL without --dev", 400, "POST", ep, map[string]any{"url": "http://x.com/h", "events": []string{"*"}}, nil},
		{"URL without host", 400, "POST", ep, map[string]any{"url": "https:///h", "events": []string{"*"}}, nil},
		{"URL with credentials", 400, "POST", ep, map[string]any{"url": "https://u:p@x.com/h", "events": []string{"*"}}, nil},
		{"no events", 400, "POST", ep, map[string]any{"url": "https://x.com/h"}, nil},
		{"bad pattern", 400, "POST", ep, map[string]any{"url": "https://x.com/h", "events": []string{"a.*.b"}}, nil},
		{"bad pattern chars", 400, "POST", ep, map[string]any{"url": "https://x.com/h", "events": []string{"a b"}}, nil},
		{"unknown scheme", 400, "POST", ep, map[string]any{"url": "https://x.com/h", "events": []string{"*"}, "signatures": []map[string]string{{"scheme": "md5"}}}, nil},
		{"reserved header", 400, "POST", ep, map[string]any{"url": "https://x.com/h", "events": []string{"*"}, "headers": map[string]string{"webhook-id": "x"}}, nil},
		{"bad timeout", 400, "POST", ep, map[string]any{"url": "https://x.com/h", "events": []string{"*"}, "timeout": "forever"}, nil},
		{"unknown tenant", 404, "POST", "/v1/tenants/ghost/endpoints", map[string]any{"url": "https://x.com/h", "events": []string{"*"}}, nil},
		{"bad event type", 400, "POST", "/v1/tenants/acme/events", map[string]any{"type": "no spaces", "data": map[string]any{}}, nil},
		{"event without data", 400, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a.b"}, nil},
		{"payload over 1 MiB", 413, "POST", "/v1/tenants/acme/events", `{"type":"a.b","data":"` + strings.Repeat("x", 1<<20) + `"}`, nil},
		{"empty batch", 400, "POST", "/v1/tenants/acme/events/batch", map[string]any{"events": []any{}}, nil},
		{"bad state filter", 400, "GET", "/v1/tenants/acme/deliveries?state=lost", nil, nil},
		{"bad limit", 400, "GET", "/v1/tenants/acme/deliveries?limit=0", nil, nil},
		{"bad cursor", 400, "GET", "/v1/tenants/acme/deliveries?cursor=%21%21", nil, nil},
		{"unknown endpoint", 404, "GET", ep + "/ep_nope", nil, nil},
		{"unknown delivery", 404, "GET", "/v1/tenants/acme/deliveries/msg_nope", nil, nil},
		{"retry unknown delivery", 404, "POST", "/v1/tenants/acme/deliveries/msg_nope/retry", nil, nil},
		{"unknown event", 404, "GET", "/v1/tenants/acme/events/evt_nope", nil, nil},
		{"unknown route", 404, "GET", "/v1/nothing", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.want(c.status, e.admin, c.method, c.path, c.body, c.hdr...)
		})
	}
	e.t = t
	if list := e.want(200, e.admin, "GET", ep, nil); len(list["data"].([]any)) != 0 {
		t.Fatalf("bad requests created endpoints: %v", list)
	}
	if list := e.want(200, e.admin, "GET", "/v1/tenants/acme/deliveries", nil); len(list["data"].([]any)) != 0 {
		t.Fatal("bad requests created deliveries")
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	path := "/v1/tenants/acme/endpoints"
	for name, hdr := range map[string]string{
		"missing":    "",
		"not bearer": "Basic dXNlcjpwYXNz",
		"wrong key":  "Bearer hk_wrong",
		"empty":      "Bearer ",
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: status %d, WWW-Authenticate %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Expired and revoked keys.
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	expired := hookd.NewAPIKeySecret()
	if err := e.store.CreateAPIKey(ctx, &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Hash: hookd.HashAPIKey(expired), ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	e.want(401, expired, "GET", path, nil)
	revoked := hookd.NewAPIKeySecret()
	k := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Hash: hookd.HashAPIKey(revoked)}
	if err := e.store.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.want(401, revoked, "GET", path, nil)

	// Tenant isolation: another tenant's admin sees the same 404 as for a
	// tenant that does not exist; a viewer may read but not write.
	created := e.createEndpoint(e.admin, "acme", nil)
	id := created["id"].(string)
	notYours := e.want(404, e.other, "GET", path+"/"+id, nil)
	noSuch := e.want(404, e.other, "GET", "/v1/tenants/ghost/endpoints/"+id, nil)
	if fmt.Sprint(notYours) != fmt.Sprint(noSuch) {
		t.Fatalf("'not yours' (%v) differs from 'does not exist' (%v)", notYours, noSuch)
	}
	e.want(404, e.other, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1})
	e.want(200, e.viewer, "GET", path, nil)
	e.want(403, e.viewer, "POST", path, map[string]any{"url": "https://x.com", "events": []string{"*"}})
	e.want(403, e.viewer, "DELETE", path+"/"+id, nil)
	e.want(200, e.super, "GET", "/v1/tenants/beta/endpoints", nil)
	e.want(404, e.super, "GET", "/v1/tenants/ghost/endpoints", nil)
	// Health endpoints need no key.
	e.want(200, "", "GET", "/healthz", nil)
	e.want(200, "", "GET", "/readyz", nil)
}

func TestPublish(t *testing.T) {
	e := newEnv(t)
	e.createEndpoint(e.admin, "acme", map[string]any{"url": "https://a.com", "events": []string{"*"}})
	e.createEndpoint(e.admin, "acme", map[string]any{"url": "https://b.com", "events": []string{"invoice.*"}})
	e.createEndpoint(e.admin, "acme", map[string]any{"url": "https://c.com", "events": []string{"invoice.paid"}})
	for typ, want := range map[string]float64{"invoice.paid": 3, "invoice.sent": 2, "user.created": 1} {
		out := e.want(202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": typ, "data": map[string]any{"x": 1}})
		if out["deliveries"] != want || !strings.HasPrefix(out["id"].(string), "evt_") {
			t.Fatalf("%s: %v, want %v deliveries", typ, out, want)
		}
	}
	// Idempotency-Key: the repeat answers the first result and creates nothing.
	first := e.want(202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "invoice.paid", "data": 1}, "Idempotency-Key", "order-1")
	wakes := e.wakes
	again := e.want(202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "user.created", "data": 2}, "Idempotency-Key", "order-1")
	if again["id"] != first["id"] || again["deliveries"] != first["deliveries"] || e.wakes != wakes {
		t.Fatalf("repeat = %v, first = %v", again, first)
	}
	ds := e.want(200, e.admin, "GET", "/v1/tenants/acme/deliveries?event_id="+first["id"].(string), nil)
	if n := len(ds["data"].([]any)); n != 3 {
		t.Fatalf("deliveries of the idempotent event = %d, want 3", n)
	}
	ev := e.want(200, e.viewer, "GET", "/v1/tenants/acme/events/"+first["id"].(string), nil)
	if ev["type"] != "invoice.paid" || fmt.Sprint(ev["data"]) != "1" {
		t.Fatalf("event = %v", ev)
	}

	// Batch: ids in order; one bad event fails the whole batch.
	out := e.want(202, e.admin, "POST", "/v1/tenants/acme/events/batch", map[string]any{"events": []map[string]any{
		{"type": "a.one", "data": 1, "id": "b-1"}, {"type": "invoice.paid", "data": 2, "id": "b-2"}, {"type": "a.three", "data": 3, "id": "b-3"},
	}})
	data := out["data"].([]any)
	if len(data) != 3 || data[0].(map[string]any)["id"] != "b-1" || data[2].(map[string]any)["id"] != "b-3" || data[1].(map[string]any)["deliveries"] != 3.0 {
		t.Fatalf("batch = %v", out)
	}
	bad := e.want(400, e.admin, "POST", "/v1/tenants/acme/events/batch", map[string]any{"events": []map[string]any{
		{"type": "ok.one", "data": 1, "id": "c-1"}, {"type": "bad type", "data": 2},
	}})
	if !strings.Contains(fmt.Sprint(bad), "events[1]") {
		t.Fatalf("batch error does not name the event: %v", bad)
	}
	e.want(404, e.admin, "GET", "/v1/tenants/acme/events/c-1", nil)
	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = map[string]any{"type": "a", "data": i}
	}
	e.want(413, e.admin, "POST", "/v1/tenants/acme/events/batch", map[string]any{"events": many})
}

func TestPaginationAndRetry(t *testing.T) {
	e := newEnv(t)
	e.createEndpoint(e.admin, "acme", nil)
	for i := range 5 {
		e.want(202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": i})
	}
	seen := 0
	cursor := ""
	for pages := 0; ; pages++ {
		out := e.want(200, e.viewer, "GET", "/v1/tenants/acme/deliveries?limit=2&cursor="+cursor, nil)
		seen += len(out["data"].([]any))
		cursor, _ = out["next_cursor"].(string)
		if cursor == "" {
			if pages != 2 {
				t.Fatalf("pages = %d, want 3", pages+1)
			}
			break
		}
	}
	if seen != 5 {
		t.Fatalf("seen %d deliveries, want 5", seen)
	}
	list := e.want(200, e.admin, "GET", "/v1/tenants/acme/deliveries", nil)
	id := list["data"].([]any)[0].(map[string]any)["id"].(string)
	wakes := e.wakes
	out := e.want(202, e.admin, "POST", "/v1/tenants/acme/deliveries/"+id+"/retry", nil)
	if out["state"] != "pending" || e.wakes != wakes+1 {
		t.Fatalf("retry = %v (wakes %d)", out, e.wakes-wakes)
	}
	d := e.want(200, e.viewer, "GET", "/v1/tenants/acme/deliveries/"+id, nil)
	if _, ok := d["attempt_log"]; !ok {
		t.Fatalf("delivery lacks attempt_log: %v", d)
	}
}

func TestEventTypes(t *testing.T) {
	e := newEnv(t)
	base := "/v1/tenants/acme/event-types"
	e.want(201, e.admin, "POST", base, map[string]any{"name": "invoice.paid", "description": "paid", "example": map[string]any{"id": 1}})
	e.want(409, e.admin, "POST", base, map[string]any{"name": "invoice.paid"})
	e.want(400, e.admin, "POST", base, map[string]any{"name": "bad name"})
	got := e.want(200, e.viewer, "GET", base+"/invoice.paid", nil)
	if got["description"] != "paid" || fmt.Sprint(got["example"]) != "map[id:1]" {
		t.Fatalf("event type = %v", got)
	}
	up := e.want(200, e.admin, "PATCH", base+"/invoice.paid", map[string]any{"deprecated": true})
	if up["deprecated"] != true || up["description"] != "paid" {
		t.Fatalf("patched = %v", up)
	}
	if l := e.want(200, e.viewer, "GET", base, nil); len(l["data"].([]any)) != 1 {
		t.Fatalf("list = %v", l)
	}
	e.want(404, e.other, "GET", base+"/invoice.paid", nil)
	e.want(204, e.admin, "DELETE", base+"/invoice.paid", nil)
	e.want(404, e.admin, "GET", base+"/invoice.paid", nil)
}

// A failing store answers 503 and nothing is half-written.
func TestStoreFailureIs503(t *testing.T) {
	e := newEnv(t)
	e.createEndpoint(e.admin, "acme", nil)
	e.store.Close()
	e.want(503, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a", "data": 1}, "Idempotency-Key", "k")
	e.want(503, "", "GET", "/readyz", nil)
}
