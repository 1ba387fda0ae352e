package http_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/hookd/hookd"
)

// A config file applied through the API: a dry run changes nothing, the
// apply creates and takes ownership (the API then refuses changes), the
// variables come from the request (never the server), a generated secret
// is shown once, a second apply is empty, and a bad file is 400 naming
// the line and changes nothing.
func TestConfigApplyAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	file := `tenants:
  - id: zeta
    name: Zeta
    endpoints:
      - name: hooks
        url: ${HOOKS_URL}
        events: ["*"]
`
	body := func(dry bool) map[string]any {
		return map[string]any{"name": "ops/hookd.yaml", "yaml": file, "env": map[string]string{"HOOKS_URL": "https://zeta.example.com/hooks"}, "dry_run": dry}
	}
	plan := e.want(t, 200, e.super, "POST", "/v1/config/apply", body(true))
	if plan["applied"] != false || len(plan["changes"].([]any)) != 2 || plan["generated_secrets"] != nil {
		t.Fatalf("dry run = %v", plan)
	}
	if _, err := e.store.FindTenant(ctx, "zeta"); hookd.ErrorCode(err) != hookd.ENOTFOUND {
		t.Fatalf("a dry run created the tenant: %v", err)
	}
	e.want(t, 403, e.admin, "POST", "/v1/config/apply", body(false))

	done := e.want(t, 200, e.super, "POST", "/v1/config/apply", body(false))
	secrets, _ := done["generated_secrets"].([]any)
	if done["applied"] != true || len(secrets) != 1 || !strings.HasPrefix(secrets[0].(map[string]any)["secret"].(string), "whsec_") {
		t.Fatalf("apply = %v", done)
	}
	eps, _, err := e.store.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "zeta"})
	if err != nil || len(eps) != 1 || eps[0].URL != "https://zeta.example.com/hooks" {
		t.Fatalf("endpoints of zeta = %v, %v", eps, err)
	}
	r := e.call(t, e.super, "PATCH", "/v1/tenants/zeta/endpoints/"+eps[0].ID, map[string]any{"description": "x"})
	if r.status != 409 || !strings.Contains(string(r.raw), "ops/hookd.yaml") {
		t.Fatalf("changing a managed endpoint = %d %s", r.status, r.raw)
	}
	again := e.want(t, 200, e.super, "POST", "/v1/config/apply", body(false))
	if changes, _ := again["changes"].([]any); len(changes) != 0 || again["generated_secrets"] != nil {
		t.Fatalf("a second apply = %v", again)
	}

	// The server's own environment is never used: an unset variable is a
	// problem of the file, with its line.
	bad := e.call(t, e.super, "POST", "/v1/config/apply", map[string]any{"name": "ops/hookd.yaml", "yaml": file})
	if bad.status != 400 || !strings.Contains(string(bad.raw), "ops/hookd.yaml:6") || !strings.Contains(string(bad.raw), "HOOKS_URL") {
		t.Fatalf("a file with an unset variable = %d %s", bad.status, bad.raw)
	}
	if eps2, _, _ := e.store.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "zeta"}); len(eps2) != 1 || eps2[0].URL != eps[0].URL {
		t.Fatal("a refused file changed something")
	}

	// Export: a file apply accepts, without key hashes.
	exp := e.call(t, e.admin, "GET", "/v1/tenants/acme/config", nil)
	if exp.status != 200 || exp.header.Get("Content-Type") != "application/yaml" || !strings.Contains(string(exp.raw), "id: acme") ||
		regexp.MustCompile(`hash: *[0-9a-f]{64}`).Match(exp.raw) {
		t.Fatalf("export = %d %s", exp.status, exp.raw)
	}
	e.want(t, 403, e.viewer, "GET", "/v1/tenants/acme/config", nil)
}
