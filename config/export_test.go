package config_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/config"
)

// rich uses every field, with values other than the defaults, and a
// "${" that must survive the round trip as text.
const rich = `
tenants:
  - id: acme
    name: Acme
    event_types:
      - name: invoice.paid
        description: An invoice was paid
        schema: {type: object, properties: {amount: {type: integer}}}
        example: {amount: 100, lines: [{sku: a, qty: 1.5}], ok: true, none: null}
      - {name: invoice.old, deprecated: true, archived: true}
    endpoints:
      - name: billing
        description: Billing system
        url: https://billing.example.com/hooks
        events: [invoice.paid, "hookd.alert.*"]
        headers: {Authorization: "Bearer x", X-Team: billing}
        filter:
          data.amount: {type: gt, pattern: 10}
        signatures:
          - {scheme: standard}
          - {scheme: timestamped, header: Roost-Signature}
          - {scheme: hmac}
        retry_schedule: [0s, 1m, 1h]
        timeout: 30s
        max_in_flight: 4
        rate_limit: 2.5
        mode: fire_and_forget
        secret: ${BILLING_SECRET}
    sources:
      - name: hooks/github
        description: GitHub
        verifier: {type: hmac, secrets: ["${S1}", "${S2}"], header: X-Sig, algorithm: sha512, encoding: base64, prefix: "v1=", timestamp_header: X-Ts, tolerance: 2m}
        content_types: [json]
        max_body_bytes: 2048
        response: {status: 200, body: "ok $${not expanded}", content_type: text/plain}
        rate_limit: 5
        dedup_window: 1h
        heartbeat_every: 10m
      - name: plain
        verifier: {type: none}
    rules:
      - name: deploy
        description: Deploy main
        enabled: false
        source: hooks/github
        git: {event: push, repo: acme/api, branch: main, provider: github}
        criteria:
          trigger.body.ref: {type: equals, pattern: refs/heads/main}
        action:
          type: command
          command: [/bin/sh, -c, 'echo "$${HOME}"']
          env: {REF: "{{ trigger.body.ref }}"}
          stdin: "{{ trigger.body }}"
          dir: /tmp
          concurrency: 2
          timeout: 1m
      - name: fwd
        trigger: mypack.mytrigger
        action:
          type: forward
          url: https://ci.example.com/hook
          forward_headers: [X-GitHub-Event]
          headers: {X-From: hookd}
          retry_schedule: [0s, 10s]
      - name: pub
        trigger: st2
        action: {type: publish, event_type: deploy.requested, data: {ref: "{{ trigger.body.ref }}", n: 1}}
    keys:
      - {name: ci, role: admin, key: "${CI_KEY}"}
      - {name: dash, role: viewer, hash: ` + "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" + `}
`

func richVars() map[string]string {
	return map[string]string{"BILLING_SECRET": secret('b'), "S1": "one", "S2": "two", "CI_KEY": "ci-key-0123456789"}
}

// An exported tenant parses back, and planning it against the same store
// changes nothing: once the file owns the tenant, nothing at all.
func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	apply(t, st, mustParse(t, rich, richVars()), owner)

	exp, err := config.Export(ctx, st, "acme")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, secretValue := range []string{secret('b'), "one", "two", "ci-key-0123456789"} {
		if strings.Contains(text, `"`+secretValue+`"`) || strings.Contains(text, " "+secretValue+"\n") {
			t.Fatalf("export holds the secret %q:\n%s", secretValue, text)
		}
	}
	for _, want := range []string{
		"# Secrets are not exported.",
		"secret: ${HOOKD_SECRET_BILLING:-}",
		"- ${HOOKD_SOURCE_SECRET_HOOKS_GITHUB:-}",
		"- ${HOOKD_SOURCE_SECRET_HOOKS_GITHUB_2:-}",
		"hash: " + hookd.HashAPIKey("ci-key-0123456789"),
		"adopt: true",
		`echo "$${HOME}"`,
		"retry_schedule:\n          - 0s\n          - 1m\n          - 1h\n",
		"dedup_window: 1h\n",
		"ok $${not expanded}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("export lacks %q:\n%s", want, text)
		}
	}
	back, err := config.ParseWith("export.yaml", out, nil, config.Options{AllowCommands: true})
	if err != nil {
		t.Fatalf("Parse(export): %v\n%s", err, text)
	}
	p := plan(t, st, back, owner)
	wantEmpty(t, p)

	// The export is stable: exporting again gives the same text.
	again, err := config.Export(ctx, st, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if out2, _ := again.Marshal(); string(out2) != text {
		t.Fatalf("exports differ:\n%s\n---\n%s", text, out2)
	}
	// Applying the export as the file keeps every secret.
	apply(t, st, back, owner)
	src, err := st.FindSourceByName(ctx, "hooks/github")
	if err != nil || strings.Join(src.Verifier.Secrets, ",") != "one,two" {
		t.Fatalf("source secrets %v, %v", src.Verifier.Secrets, err)
	}
	wantEmpty(t, plan(t, st, mustParse(t, rich, richVars()), owner))
}

// A tenant made through the API exports as a file that takes it over:
// planning it adopts everything and changes no field but the names of
// endpoints that had none, or shared theirs (the export names them by
// their ids); applied, the next plan is empty.
func TestExportAdoptsAPIResources(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	if err := st.CreateTenant(ctx, &hookd.Tenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: "invoice.paid", Schema: json.RawMessage(`{"type": "object"}`),
		Example: json.RawMessage(`{"b": 2, "a": [1, 2.50]}`)}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "dup", "dup", "solo"} {
		ep := &hookd.Endpoint{TenantID: "acme", Name: name, URL: "https://example.com/" + name, Events: []string{"*"},
			Filter: json.RawMessage(`{"data.x": {"type": "exists"}}`), Secrets: []hookd.Secret{{Value: secret('s'), CreatedAt: time.Now()}}}
		ep.SetDefaults()
		if err := st.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	src := &hookd.Source{TenantID: "acme", Name: "gitlab", Verifier: hookd.SourceVerifier{Type: "gitlab", Secrets: []string{"tok"}}}
	src.SetDefaults()
	if err := st.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRule(ctx, &hookd.Rule{TenantID: "acme", Name: "r", Enabled: true, Source: "gitlab",
		Criteria: json.RawMessage(`{"trigger.body.a": {"type": "eq", "pattern": 1}}`),
		Action:   hookd.Action{Type: "forward", URL: "https://example.com/f", Timeout: hookd.Duration(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ci", ""} {
		if err := st.CreateAPIKey(ctx, &hookd.APIKey{TenantID: "acme", Role: hookd.RoleViewer, Name: name, Hash: hookd.HashAPIKey("key-" + name + "-000000000000")}); err != nil {
			t.Fatal(err)
		}
	}

	exp, err := config.Export(ctx, st, "acme")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.Parse("export.yaml", out, nil)
	if err != nil {
		t.Fatalf("Parse(export): %v\n%s", err, out)
	}
	p := plan(t, st, back, owner)
	if len(p.Changes) != 10 {
		t.Fatalf("plan:\n%s\nexport:\n%s", p, out)
	}
	renamed := 0
	for _, c := range p.Changes {
		switch {
		case c.Op != config.OpAdopt:
			t.Fatalf("plan:\n%s\nexport:\n%s", p, out)
		case len(c.Fields) == 0:
		case c.Kind == hookd.KindEndpoint && strings.HasPrefix(c.Name, "ep_") && strings.Join(c.Fields, ",") == "name":
			renamed++
		default:
			t.Fatalf("plan:\n%s\nexport:\n%s", p, out)
		}
	}
	if renamed != 3 {
		t.Fatalf("plan:\n%s", p)
	}
	if err := p.Apply(ctx, st); err != nil {
		t.Fatal(err)
	}
	wantEmpty(t, plan(t, st, back, owner))
	if m, _ := st.FindManaged(ctx, owner); len(m) != 10 {
		t.Fatalf("managed %+v", m)
	}
	eps, _, _ := st.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "acme"})
	for _, ep := range eps {
		if ep.Name != "solo" && ep.Name != ep.ID {
			t.Fatalf("endpoint %s is named %q", ep.ID, ep.Name)
		}
	}
}

func TestExportNotFound(t *testing.T) {
	t.Parallel()
	if _, err := config.Export(ctx, newStore(t), "nope"); hookd.ErrorCode(err) != hookd.ENOTFOUND {
		t.Fatalf("err = %v", err)
	}
}

// An export is planned once it went through Marshal and Parse, which
// check it; not as it is.
func TestExportNeedsParse(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	exp, err := config.Export(ctx, st, "default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exp.Plan(ctx, st, owner); hookd.ErrorCode(err) != hookd.EINVALID {
		t.Fatalf("err = %v", err)
	}
}
