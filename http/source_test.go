package http_test

import (
	"net/url"
	"strings"
	"testing"

	hookdhttp "github.com/hookd/hookd/http"
)

func TestSources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := "gh-secret-never-shown"
	src := e.source(t, map[string]any{"name": "/ci/github/", "description": "CI", "verifier": map[string]any{"type": "github", "secrets": []string{secret}}})
	id := src["id"].(string)
	if src["name"] != "ci/github" || src["url"] != e.url+"/v1/webhooks/ci/github" || src["secrets"] != 1.0 || src["tenant"] != "acme" ||
		src["max_body_bytes"] != float64(1<<20) || src["dedup_window"] == nil || len(src["content_types"].([]any)) != 3 {
		t.Fatalf("created = %v", src)
	}
	if v := src["verifier"].(map[string]any); v["type"] != "github" || v["secrets"] != nil {
		t.Errorf("verifier = %v", v)
	}
	// One name whatever its slashes, across tenants; the conflict names no tenant.
	for _, c := range []struct{ key, tenant, name string }{{e.admin, "acme", "ci/github"}, {e.other, "beta", "/ci/github"}} {
		r := e.call(t, c.key, "POST", "/v1/tenants/"+c.tenant+"/sources", map[string]any{"name": c.name, "verifier": map[string]any{"type": "none"}})
		if r.status != 409 || errorCode(t, r.body) != "conflict" || strings.Contains(string(r.raw), "acme") {
			t.Errorf("%s %q = %d %s", c.tenant, c.name, r.status, r.raw)
		}
	}
	// Found by id and by name (any slashes); not through another tenant.
	for _, p := range []string{id, "ci%2Fgithub", url.PathEscape("/ci/github/")} {
		got := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/sources/"+p, nil)
		if got["id"] != id || got["secrets"] != 1.0 {
			t.Errorf("GET %s = %v", p, got)
		}
		e.want(t, 404, e.super, "GET", "/v1/tenants/beta/sources/"+p, nil)
	}
	list := items(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/sources", nil))
	if len(list) != 1 || list[0]["url"] != e.url+"/v1/webhooks/ci/github" || list[0]["secrets"] != 1.0 {
		t.Errorf("list = %v", list)
	}

	invalid := []struct {
		name string
		body map[string]any
		want string
	}{
		{"no verifier", map[string]any{"name": "x"}, "verifier"},
		{"no secrets", map[string]any{"name": "x", "verifier": map[string]any{"type": "github"}}, "needs at least one secret"},
		{"setting the type takes not", map[string]any{"name": "x", "verifier": map[string]any{"type": "github", "secrets": []string{"s"}, "algorithm": "sha1"}}, "takes no algorithm"},
		{"unknown type", map[string]any{"name": "x", "verifier": map[string]any{"type": "githup"}}, "unknown"},
		{"standard secret", map[string]any{"name": "x", "verifier": map[string]any{"type": "standard", "secrets": []string{"not-a-whsec-secret"}}}, "secrets[0]"},
		{"hmac without header", map[string]any{"name": "x", "verifier": map[string]any{"type": "hmac", "secrets": []string{"s"}}}, "needs a header"},
		{"secrets for none", map[string]any{"name": "x", "verifier": map[string]any{"type": "none", "secrets": []string{"s"}}}, "takes no secrets"},
		{"bad name", map[string]any{"name": "a b", "verifier": map[string]any{"type": "none"}}, "Invalid source name"},
		{"empty name", map[string]any{"name": "//", "verifier": map[string]any{"type": "none"}}, "Invalid source name"},
		{"content type", map[string]any{"name": "x", "verifier": map[string]any{"type": "none"}, "content_types": []string{"xml"}}, "xml"},
		{"body limit", map[string]any{"name": "x", "verifier": map[string]any{"type": "none"}, "max_body_bytes": 64 << 20}, "max_body_bytes"},
		{"response", map[string]any{"name": "x", "verifier": map[string]any{"type": "none"}, "response": map[string]any{"status": 302}}, "2xx"},
		{"rate", map[string]any{"name": "x", "verifier": map[string]any{"type": "none"}, "rate_limit": -1}, "rate_limit"},
		{"unknown field", map[string]any{"name": "x", "verifier": map[string]any{"type": "none"}, "secret": "s"}, "Unknown field"},
		{"unknown verifier field", map[string]any{"name": "x", "verifier": map[string]any{"type": "none", "key": "s"}}, "Unknown field"},
	}
	for _, c := range invalid {
		r := e.call(t, e.admin, "POST", "/v1/tenants/acme/sources", c.body)
		if r.status != 400 || errorCode(t, r.body) != "invalid" || !strings.Contains(string(r.raw), c.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", c.name, r.status, r.raw, c.want)
		}
		if strings.Contains(string(r.raw), "not-a-whsec-secret") {
			t.Errorf("%s: the error repeats the secret: %s", c.name, r.raw)
		}
	}
	e.want(t, 403, e.viewer, "POST", "/v1/tenants/acme/sources", map[string]any{"name": "v", "verifier": map[string]any{"type": "none"}})

	// PATCH: settings change, the secrets stay unless given, the name stays.
	upd := e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/sources/"+id, map[string]any{
		"description": "changed", "verifier": map[string]any{"header": "X-Owlette-Signature"}, "rate_limit": 5})
	if upd["description"] != "changed" || upd["secrets"] != 1.0 || upd["verifier"].(map[string]any)["header"] != "X-Owlette-Signature" ||
		upd["verifier"].(map[string]any)["type"] != "github" || upd["rate_limit"] != 5.0 {
		t.Fatalf("patched = %v", upd)
	}
	if got := e.storedSource(t, "ci/github"); len(got.Verifier.Secrets) != 1 || got.Verifier.Secrets[0] != secret {
		t.Errorf("stored secrets after PATCH = %d", len(got.Verifier.Secrets))
	}
	upd = e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/sources/ci%2Fgithub", map[string]any{"verifier": map[string]any{"secrets": []string{"new", "old"}}})
	if upd["secrets"] != 2.0 || upd["verifier"].(map[string]any)["header"] != nil {
		t.Errorf("rotated = %v", upd)
	}
	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"verifier": map[string]any{"type": "gitlab"}}, "needs at least one secret"}, // a new type keeps no secrets
		{map[string]any{"name": "renamed"}, "Unknown field"},
		{map[string]any{"max_body_bytes": -1}, "max_body_bytes"},
		{map[string]any{"response": map[string]any{"status": 200, "extra": 1}}, "Unknown field"},
	} {
		r := e.call(t, e.admin, "PATCH", "/v1/tenants/acme/sources/"+id, c.body)
		if r.status != 400 || !strings.Contains(string(r.raw), c.want) {
			t.Errorf("PATCH %v = %d %s, want 400 naming %q", c.body, r.status, r.raw, c.want)
		}
	}
	upd = e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/sources/"+id, map[string]any{"verifier": map[string]any{"type": "none"}})
	if upd["secrets"] != 0.0 {
		t.Errorf("none keeps secrets: %v", upd)
	}
	e.want(t, 404, e.other, "PATCH", "/v1/tenants/beta/sources/"+id, map[string]any{"description": "x"})

	// DELETE: gone from the API and from the inbound URL.
	e.want(t, 403, e.viewer, "DELETE", "/v1/tenants/acme/sources/"+id, nil)
	e.want(t, 204, e.admin, "DELETE", "/v1/tenants/acme/sources/ci%2Fgithub", nil)
	e.want(t, 404, e.admin, "GET", "/v1/tenants/acme/sources/"+id, nil)
	if r := e.hook(t, "POST", "ci/github", []byte(`{}`), nil); r.status != 404 {
		t.Errorf("webhook of a deleted source = %d %s", r.status, r.raw)
	}
	// The name is free again.
	e.source(t, map[string]any{"name": "ci/github", "verifier": map[string]any{"type": "none"}})
}

// With Config.PublicURL, sources show URLs under it.
func TestSourcePublicURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *hookdhttp.Config) { c.PublicURL = "https://hooks.example.com/" })
	src := e.source(t, map[string]any{"name": "a/b.c", "verifier": map[string]any{"type": "none"}})
	if src["url"] != "https://hooks.example.com/v1/webhooks/a/b.c" {
		t.Errorf("url = %v", src["url"])
	}
	if list := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/sources", nil)); list[0]["url"] != src["url"] {
		t.Errorf("list url = %v", list[0]["url"])
	}
}
