package config_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/config"
)

const owner = "/etc/hookd/hookd.yaml"

// base is a file with one of everything; vars are the variables it needs.
const base = `
keys:
  - name: root
    key: ${ROOT_KEY}
tenants:
  - id: acme
    name: Acme
    event_types:
      - name: invoice.paid
        description: An invoice was paid
        schema: {type: object, required: [amount]}
        example: {amount: 100, currency: EUR}
    endpoints:
      - name: billing
        url: https://billing.example.com/hooks
        events: [invoice.paid]
        headers: {Authorization: "Bearer ${BILLING_TOKEN}"}
        filter:
          data.amount: {type: gt, pattern: 10}
      - name: alerts
        url: https://alerts.example.com/hooks
        events: ["hookd.alert.*"]
        signatures: [{scheme: hmac, header: X-Stout-Signature}]
        secret: ${ALERTS_SECRET}
    sources:
      - name: github
        verifier: {type: github, secrets: ["${GITHUB_SECRET}"]}
    rules:
      - name: deploy
        source: github
        git: {event: push, repo: acme/api, branch: main}
        action: {type: publish, event_type: deploy.requested}
    keys:
      - name: ci
        role: admin
        key: ${CI_KEY}
`

func vars() map[string]string {
	return map[string]string{
		"ROOT_KEY":      "hk_" + strings.Repeat("r", 43),
		"CI_KEY":        "hk_" + strings.Repeat("c", 43),
		"BILLING_TOKEN": "t0k",
		"ALERTS_SECRET": secret('a'),
		"GITHUB_SECRET": "gh-s3cret",
	}
}

func TestPlanApplyIdempotent(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := mustParse(t, base, vars())
	p := apply(t, st, f, owner)
	wantPlan(t, p,
		"+ tenant acme",
		"+ event type acme/invoice.paid",
		"+ endpoint acme/billing",
		"+ endpoint acme/alerts",
		"+ source acme/github",
		"+ rule acme/deploy",
		"+ key acme/ci",
		"+ key root",
	)
	wantEmpty(t, plan(t, st, mustParse(t, base, vars()), owner))

	// What was made is what the file says.
	eps, _, err := st.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "acme"})
	if err != nil || len(eps) != 2 {
		t.Fatalf("endpoints %v, %v", eps, err)
	}
	for _, ep := range eps {
		if ep.Name == "alerts" && (ep.Secrets[0].Value != secret('a') || ep.Signatures[0].Header != "X-Stout-Signature") {
			t.Fatalf("alerts = %+v", ep)
		}
		if ep.Name == "billing" && (ep.Headers["Authorization"] != "Bearer t0k" || !strings.HasPrefix(ep.Secrets[0].Value, hookd.SecretPrefix)) {
			t.Fatalf("billing = %+v", ep)
		}
	}
	k, err := st.FindAPIKeyByHash(ctx, hookd.HashAPIKey(vars()["CI_KEY"]))
	if err != nil || k.Role != hookd.RoleAdmin || k.TenantID != "acme" {
		t.Fatalf("key %+v, %v", k, err)
	}
	managed, err := st.FindManaged(ctx, owner)
	if err != nil || len(managed) != 8 {
		t.Fatalf("managed = %+v, %v", managed, err)
	}
	// The API refuses changes of what the file owns: the store says who.
	if o, err := st.ManagedBy(ctx, hookd.KindRule, "acme", "deploy"); o != owner || err != nil {
		t.Fatalf("ManagedBy = %q, %v", o, err)
	}
}

func TestPlanUpdates(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	apply(t, st, mustParse(t, base, vars()), owner)
	changed := strings.NewReplacer(
		"name: Acme\n", "name: Acme Inc\n",
		"description: An invoice was paid", "description: Paid",
		"https://billing.example.com/hooks", "https://billing.example.com/v2",
		"pattern: 10}", "pattern: 20}",
		"branch: main}", "branch: release}",
		"event_type: deploy.requested}", "event_type: deploy.wanted}",
		`secrets: ["${GITHUB_SECRET}"]`, `secrets: ["${GITHUB_SECRET}"], header: X-Sig`,
	).Replace(base)
	v := vars()
	v["GITHUB_SECRET"] = "rotated"
	p := apply(t, st, mustParse(t, changed, v), owner)
	wantPlan(t, p,
		"~ tenant acme (name)",
		"~ event type acme/invoice.paid (description)",
		"~ endpoint acme/billing (url, filter)",
		"~ source acme/github (verifier, secrets)",
		"~ rule acme/deploy (git, action)",
	)
	wantEmpty(t, plan(t, st, mustParse(t, changed, v), owner))
	src, err := st.FindSourceByName(ctx, "github")
	if err != nil || src.Verifier.Secrets[0] != "rotated" || src.Verifier.Header != "X-Sig" {
		t.Fatalf("source %+v, %v", src, err)
	}
	r, err := st.FindRule(ctx, "acme", "deploy")
	if err != nil || r.Git.Branch != "release" || r.Action.EventType != "deploy.wanted" {
		t.Fatalf("rule %+v, %v", r, err)
	}
}

// Removing resources from the file deletes them, and only the ones it
// owns: what was made through the API stays.
func TestPlanDeletesOwnedOnly(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	apply(t, st, mustParse(t, base, vars()), owner)
	api := &hookd.Endpoint{TenantID: "acme", Name: "made-by-api", URL: "https://api.example.com", Events: []string{"*"}}
	api.SetDefaults()
	if err := st.CreateEndpoint(ctx, api); err != nil {
		t.Fatal(err)
	}
	apiKey := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleViewer, Name: "by-api", Hash: hookd.HashAPIKey("by-api-key-000000")}
	if err := st.CreateAPIKey(ctx, apiKey); err != nil {
		t.Fatal(err)
	}
	f := mustParse(t, `
tenants:
  - id: acme
    name: Acme
    endpoints:
      - name: billing
        url: https://billing.example.com/hooks
        events: [invoice.paid]
        headers: {Authorization: "Bearer ${BILLING_TOKEN}"}
        filter:
          data.amount: {type: gt, pattern: 10}
`, vars())
	p := apply(t, st, f, owner)
	wantPlan(t, p,
		"- rule acme/deploy",
		"- endpoint acme/alerts",
		"- event type acme/invoice.paid",
		"- key root",
		"- key acme/ci",
		"- source acme/github",
	)
	if len(p.Warnings) != 0 {
		t.Fatalf("warnings %v", p.Warnings)
	}
	wantEmpty(t, plan(t, st, f, owner))
	if _, err := st.FindEndpointByID(ctx, "acme", api.ID); err != nil {
		t.Fatalf("the API's endpoint is gone: %v", err)
	}
	if k, err := st.FindAPIKeyByID(ctx, apiKey.ID); err != nil || k.RevokedAt != nil {
		t.Fatalf("the API's key: %+v, %v", k, err)
	}
	if k, err := st.FindAPIKeyByHash(ctx, hookd.HashAPIKey(vars()["CI_KEY"])); err != nil || k.RevokedAt == nil {
		t.Fatalf("the file's key was not revoked: %+v, %v", k, err)
	}

	// The tenant leaves the file: it holds an endpoint of the API, so it
	// is kept (and the file's endpoint is deleted).
	p = apply(t, st, mustParse(t, "tenants: []\n", nil), owner)
	wantPlan(t, p, "- endpoint acme/billing")
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "tenant acme is no longer in the file but holds endpoint") {
		t.Fatalf("warnings %v", p.Warnings)
	}
	if _, err := st.FindTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.FindManaged(ctx, owner); len(m) != 0 {
		t.Fatalf("still managed: %+v", m)
	}
}

// A tenant the file made and that holds only what the file made goes
// when the file drops it.
func TestPlanDeletesTenant(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	apply(t, st, mustParse(t, base, vars()), owner)
	p := apply(t, st, mustParse(t, "tenants: []\n", nil), owner)
	wantPlan(t, p,
		"- rule acme/deploy",
		"- endpoint acme/alerts",
		"- endpoint acme/billing",
		"- event type acme/invoice.paid",
		"- key root",
		"- key acme/ci",
		"- source acme/github",
		"- tenant acme",
	)
	if _, err := st.FindTenant(ctx, "acme"); hookd.ErrorCode(err) != hookd.ENOTFOUND {
		t.Fatalf("tenant: %v", err)
	}
	wantEmpty(t, plan(t, st, mustParse(t, "tenants: []\n", nil), owner))
}

// Resources made through the API are not taken over by a file that names
// them, unless the tenant says adopt.
func TestPlanRefusesTakeOver(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	if err := st.CreateTenant(ctx, &hookd.Tenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	ep := &hookd.Endpoint{TenantID: "acme", Name: "billing", URL: "https://old.example.com", Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: secret('o')}}}
	ep.SetDefaults()
	if err := st.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	src := &hookd.Source{TenantID: "acme", Name: "github", Verifier: hookd.SourceVerifier{Type: "github", Secrets: []string{"x"}}}
	src.SetDefaults()
	if err := st.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: "invoice.paid"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRule(ctx, &hookd.Rule{TenantID: "acme", Name: "deploy", Enabled: true, Trigger: "deploy",
		Action: hookd.Action{Type: "publish", EventType: "deploy.requested"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(ctx, &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Name: "ci", Hash: hookd.HashAPIKey(vars()["CI_KEY"])}); err != nil {
		t.Fatal(err)
	}
	_, err := mustParse(t, base, vars()).Plan(ctx, st, owner)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	text := err.Error()
	for _, want := range []string{
		"hookd.yaml:9: event type acme/invoice.paid: exists and is not managed by this file",
		"hookd.yaml:14: endpoint acme/billing: exists and is not managed by this file",
		"hookd.yaml:26: source acme/github: exists and is not managed by this file",
		"hookd.yaml:29: rule acme/deploy: exists and is not managed by this file",
		"hookd.yaml:34: key acme/ci: exists and is not managed by this file",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "tenant acme") {
		t.Errorf("an existing tenant with the same name is no conflict:\n%s", text)
	}
	// Nothing changed.
	if m, _ := st.FindManaged(ctx, ""); len(m) != 0 {
		t.Fatalf("managed: %+v", m)
	}

	// adopt: true takes them over, changing what differs.
	adopting := strings.Replace(base, "    name: Acme\n", "    name: Acme\n    adopt: true\n", 1)
	p := apply(t, st, mustParse(t, adopting, vars()), owner)
	wantPlan(t, p,
		"~ tenant acme (adopt)",
		"~ event type acme/invoice.paid (adopt, description, schema, example)",
		"~ endpoint acme/billing (adopt, url, events, headers, filter)",
		"+ endpoint acme/alerts",
		"~ source acme/github (adopt, secrets)",
		"~ rule acme/deploy (adopt, source, trigger, git)",
		"~ key acme/ci (adopt)",
		"+ key root",
	)
	wantEmpty(t, plan(t, st, mustParse(t, adopting, vars()), owner))
	got, err := st.FindEndpointByID(ctx, "acme", ep.ID)
	if err != nil || got.URL != "https://billing.example.com/hooks" || got.Secrets[0].Value != secret('o') {
		t.Fatalf("adopted endpoint %+v, %v", got, err)
	}

	// Another file cannot take them, adopt or not.
	_, err = mustParse(t, adopting, vars()).Plan(ctx, st, "/other.yaml")
	if err == nil || !strings.Contains(err.Error(), "endpoint acme/billing: exists and is managed by another file ("+owner+")") ||
		!strings.Contains(err.Error(), "tenant acme: cannot be adopted: it is managed by another file") {
		t.Fatalf("err = %v", err)
	}
}

// A tenant that exists and that the file does not own is a place for the
// file's resources: it is not renamed, and setting another name is an error.
func TestPlanForeignTenant(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	f := mustParse(t, `
tenants:
  - id: default
    endpoints:
      - name: all
        url: https://example.com
        events: ["*"]
`, nil)
	wantPlan(t, apply(t, st, f, owner), "+ endpoint default/all")
	_, err := mustParse(t, "tenants:\n  - id: default\n    name: Mine\n", nil).Plan(ctx, st, owner)
	if err == nil || !strings.Contains(err.Error(), `hookd.yaml:3: tenant default: exists and is not managed by this file, so its name ("Default") is not changed`) {
		t.Fatalf("err = %v", err)
	}
	// Dropping it from the file deletes the file's endpoint, not the tenant.
	wantPlan(t, apply(t, st, mustParse(t, "tenants: []\n", nil), owner), "- endpoint default/all")
	if _, err := st.FindTenant(ctx, "default"); err != nil {
		t.Fatal(err)
	}
}

// Endpoint secrets: generated once and kept across reloads; from the
// file when it gives one; a changed one signs alongside the old one for
// a day, as a rotation through the API does.
func TestEndpointSecrets(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	src := `
tenants:
  - id: acme
    endpoints:
      - name: gen
        url: https://example.com/gen
        events: ["*"]
      - name: given
        url: https://example.com/given
        events: ["*"]
        secret: ${GIVEN_SECRET:-}
`
	v := map[string]string{"GIVEN_SECRET": secret('a')}
	first := apply(t, st, mustParse(t, src, v), owner)
	find := func(name string) *hookd.Endpoint {
		t.Helper()
		eps, _, err := st.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			if ep.Name == name {
				return ep
			}
		}
		t.Fatalf("no endpoint %s", name)
		return nil
	}
	generated := find("gen").Secrets[0].Value
	if find("given").Secrets[0].Value != secret('a') || !strings.HasPrefix(generated, hookd.SecretPrefix) {
		t.Fatalf("secrets %v %v", find("gen").Secrets, find("given").Secrets)
	}
	// Apply hands the generated secret to its caller, once.
	if g := first.Generated; len(g) != 1 || g[0].Endpoint != "gen" || g[0].Tenant != "acme" || g[0].Secret != generated || g[0].ID != find("gen").ID {
		t.Fatalf("generated = %+v", g)
	}
	for i := 0; i < 2; i++ {
		p := apply(t, st, mustParse(t, src, v), owner)
		wantEmpty(t, p)
		if len(p.Generated) != 0 {
			t.Fatalf("generated again: %+v", p.Generated)
		}
	}
	if find("gen").Secrets[0].Value != generated {
		t.Fatal("a reload rotated the generated secret")
	}
	// The variable left empty: the secret stays.
	wantEmpty(t, plan(t, st, mustParse(t, src, nil), owner))

	// A new secret in the environment: the old one signs on for 24 h.
	v["GIVEN_SECRET"] = secret('b')
	p := plan(t, st, mustParse(t, src, v), owner)
	p.Now = func() time.Time { return epoch }
	if err := p.Apply(ctx, st); err != nil {
		t.Fatal(err)
	}
	wantPlan(t, p, "~ endpoint acme/given (secret)")
	got := find("given").Secrets
	if len(got) != 2 || got[0].Value != secret('b') || got[0].ExpiresAt != nil || got[1].Value != secret('a') ||
		got[1].ExpiresAt == nil || !got[1].ExpiresAt.Equal(epoch.Add(24*time.Hour)) {
		t.Fatalf("secrets after the change: %+v", got)
	}
	wantEmpty(t, plan(t, st, mustParse(t, src, v), owner))
	if err := p.Apply(ctx, st); hookd.ErrorCode(err) != hookd.ECONFLICT {
		t.Fatalf("second Apply of one plan: %v", err)
	}
	// The plan's JSON and text never carry a secret.
	b, _ := json.Marshal(p)
	if strings.Contains(string(b)+p.String(), "whsec_") {
		t.Fatalf("plan shows a secret: %s\n%s", b, p)
	}
}

// A key whose hash changes is replaced: a new key, the old one revoked.
func TestKeyHashChange(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	src := `
tenants:
  - id: acme
    keys:
      - name: ci
        role: admin
        hash: ${CI_HASH}
      - name: dash
        role: viewer
        key: ${DASH_KEY}
`
	v := map[string]string{"CI_HASH": hookd.HashAPIKey("first-key-000000"), "DASH_KEY": "second-key-00000"}
	apply(t, st, mustParse(t, src, v), owner)
	old, err := st.FindAPIKeyByHash(ctx, v["CI_HASH"])
	if err != nil || old.Name != "ci" {
		t.Fatalf("%+v %v", old, err)
	}
	v["CI_HASH"] = strings.ToUpper(hookd.HashAPIKey("third-key-000000"))
	p := apply(t, st, mustParse(t, src, v), owner)
	wantPlan(t, p, "~ key acme/ci (hash)")
	if k, _ := st.FindAPIKeyByID(ctx, old.ID); k.RevokedAt == nil {
		t.Fatal("the old key was not revoked")
	}
	k, err := st.FindAPIKeyByHash(ctx, hookd.HashAPIKey("third-key-000000"))
	if err != nil || k.RevokedAt != nil || k.Role != hookd.RoleAdmin || k.Name != "ci" {
		t.Fatalf("new key %+v %v", k, err)
	}
	wantEmpty(t, plan(t, st, mustParse(t, src, v), owner))

	// A key keeps its role: a new role needs a new key.
	promoted := strings.Replace(src, "role: viewer", "role: admin", 1)
	_, err = mustParse(t, promoted, v).Plan(ctx, st, owner)
	if err == nil || !strings.Contains(err.Error(), "hookd.yaml:9: key acme/dash: a key keeps its role") {
		t.Fatalf("err = %v", err)
	}
	v["DASH_KEY"] = "fourth-key-00000"
	wantPlan(t, apply(t, st, mustParse(t, promoted, v), owner), "~ key acme/dash (role, hash)")
	if d, err := st.FindAPIKeyByHash(ctx, hookd.HashAPIKey("fourth-key-00000")); err != nil || d.Role != hookd.RoleAdmin {
		t.Fatalf("%+v %v", d, err)
	}

	// Going back to a hash that was revoked is refused: hashes are unique.
	v["CI_HASH"] = hookd.HashAPIKey("first-key-000000")
	_, err = mustParse(t, src, v).Plan(ctx, st, owner)
	if err == nil || !strings.Contains(err.Error(), "hookd.yaml:7: key acme/ci: a revoked key has this hash already; give a new key") {
		t.Fatalf("err = %v", err)
	}
}

func TestPlanRuleSource(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	_, err := mustParse(t, `
tenants:
  - id: acme
    rules:
      - name: deploy
        source: github
        action: {type: publish, event_type: deploy.requested}
`, nil).Plan(ctx, st, owner)
	if err == nil || !strings.Contains(err.Error(), `hookd.yaml:6: rule acme/deploy: source: there is no source "github" in this tenant`) {
		t.Fatalf("err = %v", err)
	}
	// A source of the tenant made through the API will do.
	if err := st.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	src := &hookd.Source{TenantID: "acme", Name: "github", Verifier: hookd.SourceVerifier{Type: "none"}}
	src.SetDefaults()
	if err := st.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	apply(t, st, mustParse(t, `
tenants:
  - id: acme
    rules:
      - name: deploy
        source: /github/
        action: {type: publish, event_type: deploy.requested}
`, nil), owner)
}

// Endpoints subscribe to types of the tenant's catalog once it has one,
// as through the API.
func TestPlanCatalog(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	_, err := mustParse(t, `
tenants:
  - id: acme
    event_types:
      - {name: invoice.paid}
      - {name: invoice.old, archived: true}
    endpoints:
      - {name: a, url: "https://example.com", events: [invoice.paid, invoice.sent]}
      - {name: b, url: "https://example.com", events: [invoice.old]}
`, nil).Plan(ctx, st, owner)
	if err == nil || !strings.Contains(err.Error(), `hookd.yaml:8: endpoint acme/a: event type "invoice.sent" is not in the tenant's event catalog`) ||
		!strings.Contains(err.Error(), `hookd.yaml:9: endpoint acme/b: event type "invoice.old" is archived`) {
		t.Fatalf("err = %v", err)
	}
}

// Moving a source to another tenant deletes it there first.
func TestPlanMoveSource(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	one := "tenants:\n  - id: a\n    sources: [{name: ci, verifier: {type: none}}]\n  - id: b\n"
	two := "tenants:\n  - id: a\n  - id: b\n    sources: [{name: ci, verifier: {type: none}}]\n"
	apply(t, st, mustParse(t, one, nil), owner)
	wantPlan(t, apply(t, st, mustParse(t, two, nil), owner), "- source a/ci", "+ source b/ci")
	if s, err := st.FindSourceByName(ctx, "ci"); err != nil || s.TenantID != "b" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestPlanText(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	p := plan(t, st, mustParse(t, base, vars()), owner)
	if !strings.HasPrefix(p.String(), "+ tenant acme\n+ event type acme/invoice.paid\n") {
		t.Fatalf("text:\n%s", p)
	}
	var got struct {
		Owner   string
		Changes []struct {
			Op, Kind, Tenant, Name string
			Fields                 []string
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Owner != owner || len(got.Changes) != 8 ||
		got.Changes[2].Op != "create" || got.Changes[2].Kind != "endpoint" || got.Changes[2].Tenant != "acme" || got.Changes[2].Name != "billing" {
		t.Fatalf("json %s", b)
	}
	apply(t, st, mustParse(t, base, vars()), owner)
	p = plan(t, st, mustParse(t, base, vars()), owner)
	if p.String() != "No changes.\n" {
		t.Fatalf("text %q", p)
	}
	if b, _ := json.Marshal(p); !strings.Contains(string(b), `"changes":[]`) {
		t.Fatalf("json %s", b)
	}
}
