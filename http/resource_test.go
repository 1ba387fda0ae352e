package http_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
)

func TestEventTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := "/v1/tenants/acme/event-types"
	created := e.want(t, 201, e.admin, "POST", base, map[string]any{
		"name": "invoice.paid", "description": "paid", "schema": map[string]any{"type": "object"}, "example": map[string]any{"id": 1},
	})
	if created["name"] != "invoice.paid" || created["created_at"] == nil {
		t.Fatalf("created = %v", created)
	}
	cases := []struct {
		name   string
		status int
		body   any
	}{
		{"duplicate", 409, map[string]any{"name": "invoice.paid"}},
		{"bad name", 400, map[string]any{"name": "bad name"}},
		{"empty name", 400, map[string]any{"name": ""}},
		{"unknown field", 400, map[string]any{"name": "a.b", "schma": 1}},
		{"malformed", 400, `{"name":`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.want(t, c.status, e.admin, "POST", base, c.body) })
	}
	got := e.want(t, 200, e.viewer, "GET", base+"/invoice.paid", nil)
	if got["description"] != "paid" || fmt.Sprint(got["example"]) != "map[id:1]" || fmt.Sprint(got["schema"]) != "map[type:object]" {
		t.Fatalf("event type = %v", got)
	}
	up := e.want(t, 200, e.admin, "PATCH", base+"/invoice.paid", map[string]any{"deprecated": true, "description": "new"})
	if up["deprecated"] != true || up["description"] != "new" || fmt.Sprint(up["example"]) != "map[id:1]" {
		t.Fatalf("patched = %v", up)
	}
	e.want(t, 400, e.admin, "PATCH", base+"/invoice.paid", map[string]any{"name": "renamed"})
	e.want(t, 404, e.admin, "PATCH", base+"/nope", map[string]any{"deprecated": true})
	e.want(t, 201, e.admin, "POST", base, map[string]any{"name": "user.created"})
	nb := len(hookd.OperationalEventTypes()) // built-ins come first
	if l := items(t, e.want(t, 200, e.viewer, "GET", base, nil)); len(l) != nb+2 || l[nb]["name"] != "user.created" || l[nb+1]["description"] != "new" {
		t.Fatalf("list = %v", l)
	}
	e.want(t, 204, e.admin, "DELETE", base+"/invoice.paid", nil)
	e.want(t, 404, e.admin, "GET", base+"/invoice.paid", nil)
	e.want(t, 404, e.admin, "DELETE", base+"/invoice.paid", nil)
}

// noSecret fails if an endpoint answer carries the secret, by key or by value.
func noSecret(t *testing.T, where string, ep map[string]any, secret string) {
	t.Helper()
	if _, ok := ep["secret"]; ok {
		t.Errorf("%s shows a secret: %v", where, ep)
	}
	if _, ok := ep["secrets"]; ok {
		t.Errorf("%s shows secrets: %v", where, ep)
	}
	if strings.Contains(fmt.Sprint(ep), secret) {
		t.Errorf("%s leaks the secret", where)
	}
}

func TestEndpointLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := "/v1/tenants/acme/endpoints"
	created := e.createEndpoint(t, "acme", map[string]any{
		"url": "https://example.com/hook", "events": []string{"invoice.*", "user.created"}, "name": "billing", "description": "d",
		"headers": map[string]string{"X-Env": "prod"}, "timeout": "5s", "retry_schedule": []any{0, "1m"}, "max_in_flight": 4,
		"signatures": []map[string]string{{"scheme": "standard"}, {"scheme": "hmac", "header": "X-Hub-Signature-256"}, {"scheme": "timestamped"}},
	})
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("create answer lacks the secret: %v", created)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(raw) < 24 {
		t.Fatalf("generated secret %q does not decode to 24+ bytes", secret)
	}
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "ep_") || created["state"] != "enabled" || created["timeout"] != "5s" || created["max_in_flight"] != 4.0 ||
		fmt.Sprint(created["retry_schedule"]) != "[0s 1m0s]" || fmt.Sprint(created["signatures"]) != "[map[scheme:standard] map[header:X-Hub-Signature-256 scheme:hmac] map[header:Hookd-Signature scheme:timestamped]]" {
		t.Fatalf("created = %v", created)
	}
	path := base + "/" + id

	got := e.want(t, 200, e.viewer, "GET", path, nil)
	noSecret(t, "get", got, secret)
	if got["name"] != "billing" || fmt.Sprint(got["headers"]) != "map[X-Env:prod]" || fmt.Sprint(got["events"]) != "[invoice.* user.created]" {
		t.Fatalf("get = %v", got)
	}
	// Defaults on a minimal endpoint.
	min := e.createEndpoint(t, "acme", nil)
	if min["timeout"] != "15s" || min["max_in_flight"] != 16.0 || fmt.Sprint(min["signatures"]) != "[map[scheme:standard]]" ||
		len(min["retry_schedule"].([]any)) != len(hookd.DefaultRetrySchedule) || min["secret"] == secret {
		t.Fatalf("defaults = %v", min)
	}
	for _, ep := range items(t, e.want(t, 200, e.admin, "GET", base, nil)) {
		noSecret(t, "list", ep, secret)
	}

	patched := e.want(t, 200, e.admin, "PATCH", path, map[string]any{"description": "new", "signatures": []map[string]string{{"scheme": "hmac"}}})
	noSecret(t, "patch", patched, secret)
	if patched["description"] != "new" || patched["name"] != "billing" || fmt.Sprint(patched["signatures"]) != "[map[header:X-Hookd-Signature-256 scheme:hmac]]" ||
		patched["timeout"] != "5s" || fmt.Sprint(patched["events"]) != "[invoice.* user.created]" {
		t.Fatalf("patched = %v", patched)
	}
	// An invalid result is refused and changes nothing.
	for name, body := range map[string]any{
		"ftp URL":        map[string]any{"url": "ftp://example.com/h"},
		"http URL":       map[string]any{"url": "http://example.com/h"},
		"no events":      map[string]any{"events": []string{}},
		"bad pattern":    map[string]any{"events": []string{"a.*.b"}},
		"state":          map[string]any{"state": "disabled"},
		"secret":         map[string]any{"secret": secret},
		"huge timeout":   map[string]any{"timeout": "1h"},
		"bad in-flight":  map[string]any{"max_in_flight": -1},
		"negative rate":  map[string]any{"rate_limit": -1},
		"huge rate":      map[string]any{"rate_limit": 1e9},
		"unknown scheme": map[string]any{"signatures": []map[string]string{{"scheme": "md5"}}},
	} {
		t.Run("patch "+name, func(t *testing.T) { e.want(t, 400, e.admin, "PATCH", path, body) })
	}
	if after := e.want(t, 200, e.admin, "GET", path, nil); fmt.Sprint(after) != fmt.Sprint(patched) {
		t.Fatalf("refused patches changed the endpoint:\n%v\n%v", after, patched)
	}
	e.want(t, 404, e.admin, "PATCH", base+"/ep_nope", map[string]any{"description": "x"})

	e.want(t, 204, e.admin, "DELETE", path, nil)
	e.want(t, 404, e.admin, "GET", path, nil)
	e.want(t, 404, e.admin, "DELETE", path, nil)
	if l := items(t, e.want(t, 200, e.admin, "GET", base, nil)); len(l) != 1 || l[0]["id"] != min["id"] {
		t.Fatalf("list after delete = %v", l)
	}
}

func TestEndpointSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", n))) }
	cases := []struct {
		name   string
		secret string
		status int
	}{
		{"24 bytes", "whsec_" + b64(24), 201},
		{"32 bytes", "whsec_" + b64(32), 201},
		{"64 bytes", "whsec_" + b64(64), 201},
		{"23 bytes", "whsec_" + b64(23), 400},
		{"65 bytes", "whsec_" + b64(65), 400},
		{"no prefix", b64(32), 400},
		{"wrong prefix", "whsek_" + b64(32), 400},
		{"not base64", "whsec_" + strings.Repeat("!", 44), 400},
		{"url-safe base64", "whsec_" + strings.Repeat("-_", 22), 400},
		{"line break", "whsec_" + b64(32)[:20] + "\n" + b64(32)[20:], 400},
		{"prefix only", "whsec_", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := e.want(t, c.status, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{
				"url": "https://example.com/hook", "events": []string{"*"}, "secret": c.secret,
			})
			if c.status == 201 && out["secret"] != c.secret {
				t.Fatalf("secret = %v, want the supplied one", out["secret"])
			}
		})
	}
	if l := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/endpoints", nil)); len(l) != 3 {
		t.Fatalf("endpoints = %d, want 3", len(l))
	}
	if err := hookd.ValidateEndpointSecret(hookd.NewEndpointSecret()); err != nil {
		t.Fatalf("a generated secret is refused: %v", err)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := "/v1/tenants/acme/endpoints"
	ok := func(extra ...any) map[string]any {
		m := map[string]any{"url": "https://example.com/h", "events": []string{"*"}}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	cases := []struct {
		name   string
		status int
		code   string
		method string
		path   string
		body   any
		hdr    []string
	}{
		{"malformed JSON", 400, "invalid", "POST", ep, `{"url": "https://x.com", `, nil},
		{"not an object", 400, "invalid", "POST", ep, `[1,2]`, nil},
		{"unknown field", 400, "invalid", "POST", ep, ok("evnts", 1), nil},
		{"read-only field", 400, "invalid", "POST", ep, ok("id", "ep_mine"), nil},
		{"trailing data", 400, "invalid", "POST", ep, `{"url":"https://x.com/h","events":["*"]} {}`, nil},
		{"trailing garbage", 400, "invalid", "POST", ep, `{"url":"https://x.com/h","events":["*"]}x`, nil},
		{"wrong type", 400, "invalid", "POST", ep, ok("url", 5), nil},
		{"empty body", 400, "invalid", "POST", ep, "", nil},
		{"text/plain", 415, "unsupported", "POST", ep, `{}`, []string{"Content-Type", "text/plain"}},
		{"form", 415, "unsupported", "POST", ep, `a=b`, []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"bad media type", 415, "unsupported", "POST", ep, `{}`, []string{"Content-Type", "json;;"}},
		{"ftp URL", 400, "invalid", "POST", ep, ok("url", "ftp://x.com/h"), nil},
		{"http URL without --dev", 400, "invalid", "POST", ep, ok("url", "http://x.com/h"), nil},
		{"URL without host", 400, "invalid", "POST", ep, ok("url", "https:///h"), nil},
		{"relative URL", 400, "invalid", "POST", ep, ok("url", "/hook"), nil},
		{"URL with credentials", 400, "invalid", "POST", ep, ok("url", "https://u:p@x.com/h"), nil},
		{"no events", 400, "invalid", "POST", ep, map[string]any{"url": "https://x.com/h"}, nil},
		{"pattern with inner star", 400, "invalid", "POST", ep, ok("events", []string{"a.*.b"}), nil},
		{"pattern with space", 400, "invalid", "POST", ep, ok("events", []string{"a b"}), nil},
		{"pattern star prefix", 400, "invalid", "POST", ep, ok("events", []string{"*.a"}), nil},
		{"unknown scheme", 400, "invalid", "POST", ep, ok("signatures", []map[string]string{{"scheme": "md5"}}), nil},
		{"reserved header", 400, "invalid", "POST", ep, ok("headers", map[string]string{"webhook-id": "x"}), nil},
		{"bad timeout", 400, "invalid", "POST", ep, ok("timeout", "forever"), nil},
		{"body over 1 MiB", 413, "too_large", "POST", ep, ok("description", strings.Repeat("x", 1<<20)), nil},
		{"unknown tenant", 404, "not_found", "POST", "/v1/tenants/ghost/endpoints", ok(), nil},
		{"bad state filter", 400, "invalid", "GET", ep + "?state=sleeping", nil, nil},
		{"bad delivery state filter", 400, "invalid", "GET", "/v1/tenants/acme/deliveries?state=lost", nil, nil},
		{"limit 0", 400, "invalid", "GET", "/v1/tenants/acme/deliveries?limit=0", nil, nil},
		{"limit too big", 400, "invalid", "GET", ep + "?limit=501", nil, nil},
		{"limit not a number", 400, "invalid", "GET", "/v1/tenants/acme/event-types?limit=ten", nil, nil},
		{"bad cursor", 400, "invalid", "GET", "/v1/tenants/acme/deliveries?cursor=%21%21", nil, nil},
		{"unknown endpoint", 404, "not_found", "GET", ep + "/ep_nope", nil, nil},
		{"delete unknown endpoint", 404, "not_found", "DELETE", ep + "/ep_nope", nil, nil},
		{"unknown delivery", 404, "not_found", "GET", "/v1/tenants/acme/deliveries/msg_nope", nil, nil},
		{"retry unknown delivery", 404, "not_found", "POST", "/v1/tenants/acme/deliveries/msg_nope/retry", nil, nil},
		{"unknown event", 404, "not_found", "GET", "/v1/tenants/acme/events/evt_nope", nil, nil},
		{"unknown event type", 404, "not_found", "GET", "/v1/tenants/acme/event-types/a.b", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := errorCode(t, e.want(t, c.status, e.admin, c.method, c.path, c.body, c.hdr...)); code != c.code {
				t.Fatalf("code = %q, want %q", code, c.code)
			}
		})
	}
	if l := items(t, e.want(t, 200, e.admin, "GET", ep, nil)); len(l) != 0 {
		t.Fatalf("bad requests created endpoints: %v", l)
	}
}

func TestDevModeAllowsHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *hookdhttp.Config) { c.AllowInsecure = true })
	for _, u := range []string{"http://localhost:8080/hook", "http://10.0.0.1/hook", "https://example.com/hook"} {
		e.createEndpoint(t, "acme", map[string]any{"url": u, "events": []string{"*"}})
	}
	e.want(t, 400, e.admin, "POST", "/v1/tenants/acme/endpoints", map[string]any{"url": "ftp://localhost/h", "events": []string{"*"}})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := map[string]bool{}
	for range 7 {
		want[e.createEndpoint(t, "acme", nil)["id"].(string)] = true
	}
	e.createEndpoint(t, "beta", nil) // another tenant's endpoint never shows
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		out := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/endpoints?limit=3&cursor="+cursor, nil)
		page := items(t, out)
		pages++
		for _, ep := range page {
			if seen[ep["id"].(string)] {
				t.Fatalf("endpoint %v on two pages", ep["id"])
			}
			seen[ep["id"].(string)] = true
		}
		cursor, _ = out["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if len(page) != 3 || pages > 5 {
			t.Fatalf("page %d has %d items and a cursor", pages, len(page))
		}
	}
	if pages != 3 || fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("%d pages with %v, want 3 with %v", pages, seen, want)
	}
}
