package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/config"
)

// A key as hookd generates them: it must never be accepted written out.
const plainKey = "hk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		env  map[string]string
		want string // "line: text" the error must contain
	}{
		{"unknown key", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        urll: https://example.com/hook
        events: ["*"]
`, nil, `hookd.yaml:6: unknown key "urll" in endpoint (did you mean "url"?)`},
		{"unknown top-level key", `
tenant:
  - id: acme
`, nil, `hookd.yaml:2: unknown key "tenant" in the file (did you mean "tenants"?)`},
		{"bad type", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
        events: ["*"]
        max_in_flight: lots
`, nil, `hookd.yaml:8: expected a number, got the string "lots"`},
		{"list expected", `
tenants:
  - id: acme
    endpoints: billing
`, nil, `hookd.yaml:4: expected a list, got the string "billing"`},
		{"bad duration", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
        events: ["*"]
        timeout: soon
`, nil, `hookd.yaml:8: invalid duration "soon"`},
		{"missing variable", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: ${BILLING_URL}
        events: ["*"]
`, nil, `hookd.yaml:6: variable BILLING_URL is not set`},
		{"malformed reference", `
tenants:
  - id: ${tenant id}
`, nil, `hookd.yaml:3: ${tenant id} is not a variable reference`},
		{"unclosed reference", `
tenants:
  - id: ${TENANT
`, nil, `hookd.yaml:3: unclosed ${`},
		{"literal key", `
keys:
  - name: root
    key: ` + plainKey + `
`, nil, `hookd.yaml:4: a plain API key is written in the file: give a hash or ${ENV}`},
		{"literal key elsewhere", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
        events: ["*"]
        headers: {Authorization: "Bearer ` + plainKey + `"}
`, nil, `hookd.yaml:8: a plain API key is written in the file`},
		{"key not a reference", `
keys:
  - name: root
    key: hk_short
`, nil, `hookd.yaml:4: key: write a ${VAR} holding the key, not the key itself: give a hash or ${ENV}`},
		{"key with a default", `
keys:
  - name: root
    key: ${ROOT_KEY:-abcdefghijklmnopq}
`, nil, `hookd.yaml:4: ${ROOT_KEY:-...}: a secret field takes no default value`},
		{"key variable missing", `
keys:
  - name: root
    key: ${ROOT_KEY}
`, nil, `hookd.yaml:4: variable ROOT_KEY is not set`},
		{"key neither hash nor key", `
tenants:
  - id: acme
    keys:
      - name: ci
        role: admin
`, nil, `hookd.yaml:5: key acme/ci: give a hash or ${ENV}`},
		{"bad hash", `
tenants:
  - id: acme
    keys:
      - name: ci
        role: admin
        hash: abc
`, nil, `hookd.yaml:7: key acme/ci: hash must be the hex SHA-256`},
		{"bad role", `
tenants:
  - id: acme
    keys:
      - name: ci
        role: owner
        hash: ` + hookd.HashAPIKey("x") + `
`, nil, `hookd.yaml:6: key acme/ci: role must be admin or viewer`},
		{"admin key at the top", `
keys:
  - name: ci
    role: admin
    hash: ` + hookd.HashAPIKey("x") + `
`, nil, `hookd.yaml:4: key ci: top-level keys are superadmin keys`},
		{"literal secret", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
        events: ["*"]
        secret: whsec_abc
`, nil, `hookd.yaml:8: a secret must come from the environment`},
		{"bad secret value", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
        events: ["*"]
        secret: ${BILLING_SECRET}
`, map[string]string{"BILLING_SECRET": "short"}, `hookd.yaml:8: endpoint acme/billing: secret: a secret must be whsec_`},
		{"invalid URL", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        description: bills
        url: not a url
        events: ["*"]
`, nil, `hookd.yaml:7: endpoint acme/billing: Invalid URL "not a url"`},
		{"http URL without --dev", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: http://example.com/hook
        events: ["*"]
`, nil, `hookd.yaml:6: endpoint acme/billing: URL must use https`},
		{"bad event pattern", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
        events: ["invoice.*.paid"]
`, nil, `hookd.yaml:7: endpoint acme/billing: Invalid event pattern`},
		{"unknown operational type", `
tenants:
  - id: acme
    endpoints:
      - name: alerts
        url: https://example.com/hook
        events: ["hookd.nope"]
`, nil, `hookd.yaml:7: endpoint acme/alerts: Event type "hookd.nope" is not one of hookd's operational event types`},
		{"bad filter", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
        events: ["*"]
        filter:
          data.amount: {type: biggerthan, pattern: 10}
`, nil, `hookd.yaml:9: endpoint acme/billing: filter:`},
		{"endpoint without a name", `
tenants:
  - id: acme
    endpoints:
      - url: https://example.com/hook
        events: ["*"]
`, nil, `hookd.yaml:5: endpoint: name is required`},
		{"endpoint without events", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/hook
`, nil, `endpoint acme/billing: events is required`},
		{"bad criteria", `
tenants:
  - id: acme
    rules:
      - name: deploy
        trigger: deploy
        criteria:
          trigger.body.ref: {type: equalz, pattern: main}
        action: {type: publish, event_type: deploy.requested}
`, nil, `hookd.yaml:8: rule acme/deploy: criteria`},
		{"bad action", `
tenants:
  - id: acme
    rules:
      - name: deploy
        trigger: deploy
        action:
          type: forward
          url: ftp://example.com/x
`, nil, `hookd.yaml:9: rule acme/deploy: action.url:`},
		{"command actions disabled", `
tenants:
  - id: acme
    rules:
      - name: deploy
        trigger: deploy
        action:
          type: command
          command: [/usr/local/bin/deploy]
`, nil, `hookd.yaml:8: rule acme/deploy: action.type: command actions are disabled`},
		{"rule listening to nothing", `
tenants:
  - id: acme
    rules:
      - name: deploy
        action: {type: publish, event_type: deploy.requested}
`, nil, `hookd.yaml:5: rule acme/deploy: A rule listens to exactly one of source, trigger and git`},
		{"bad verifier", `
tenants:
  - id: acme
    sources:
      - name: github
        verifier: {type: gitbub, secrets: ["${GH_SECRET}"]}
`, map[string]string{"GH_SECRET": "s3cret"}, `hookd.yaml:6: source acme/github: Verifier type "gitbub" is unknown`},
		{"source without secrets", `
tenants:
  - id: acme
    sources:
      - name: github
        verifier: {type: github}
`, nil, `source acme/github: Verifier type "github" needs at least one secret`},
		{"reserved source name", `
tenants:
  - id: acme
    sources:
      - name: /st2/
        verifier: {type: none}
`, nil, `hookd.yaml:5: source acme/st2: the source name "st2" is reserved`},
		{"example against its schema", `
tenants:
  - id: acme
    event_types:
      - name: invoice.paid
        schema: {type: object, required: [amount]}
        example: {currency: EUR}
`, nil, `hookd.yaml:7: event type acme/invoice.paid: The example does not match the schema at "": missing property 'amount'`},
		{"schema that no value passes", `
tenants:
  - id: acme
    event_types:
      - name: invoice.paid
        schema: {$ref: "#/$defs/a", $defs: {a: {$ref: "#/$defs/a"}}}
`, nil, `hookd.yaml:6: event type acme/invoice.paid: Invalid schema:`},
		{"reserved event type", `
tenants:
  - id: acme
    event_types:
      - name: hookd.mine
`, nil, `hookd.yaml:5: event type acme/hookd.mine: Event type names starting with "hookd." are reserved`},
		{"duplicate endpoint", `
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com/a
        events: ["*"]
      - name: billing
        url: https://example.com/b
        events: ["*"]
`, nil, `hookd.yaml:8: endpoint acme/billing: declared twice in this tenant (first on line 5)`},
		{"duplicate tenant", `
tenants:
  - id: acme
  - id: acme
`, nil, `hookd.yaml:4: tenant acme: declared twice (first on line 3)`},
		{"duplicate source across tenants", `
tenants:
  - id: acme
    sources:
      - name: ci
        verifier: {type: none}
  - id: globex
    sources:
      - name: /ci
        verifier: {type: none}
`, nil, `hookd.yaml:9: source globex/ci: source names are unique across tenants; tenant acme declares it too`},
		{"duplicate key", `
tenants:
  - id: acme
    keys:
      - {name: ci, role: admin, hash: ` + hookd.HashAPIKey("a") + `}
      - {name: ci, role: viewer, hash: ` + hookd.HashAPIKey("b") + `}
`, nil, `hookd.yaml:6: key acme/ci: declared twice (first on line 5)`},
		{"duplicate yaml key", `
tenants:
  - id: acme
    id: globex
`, nil, `hookd.yaml:4: mapping key "id" already defined at line 3`},
		{"bad tenant id", `
tenants:
  - id: Acme Corp
`, nil, `hookd.yaml:3: tenant Acme Corp: Tenant id must be`},
		{"syntax error", "tenants:\n  - id: acme\n   name: x\n", nil, `hookd.yaml:1: did not find expected '-' indicator`},
		{"tab indentation", "tenants:\n\t- id: acme\n", nil, `hookd.yaml:2: found character that cannot start any token`},
		{"empty file", "", nil, `hookd.yaml: the file is empty; write "tenants: []" to manage nothing`},
		{"only comments", "# nothing\n", nil, `the file is empty`},
		{"two documents", "tenants: []\n---\ntenants: []\n", nil, `hookd.yaml:2: a configuration file holds one YAML document`},
		{"not a mapping", "- id: acme\n", nil, `hookd.yaml:1: the file must be a mapping with tenants:`},
		{"infinite number in JSON", `
tenants:
  - id: acme
    event_types:
      - name: a.b
        example: {x: .inf}
`, nil, `hookd.yaml:6: JSON has no infinity or NaN`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("hookd.yaml", []byte(c.src), env(c.env))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
			var ce *config.Error
			if !errors.As(err, &ce) || hookd.ErrorCode(err) != hookd.EINVALID {
				t.Fatalf("error %T, code %q: want *config.Error, EINVALID", err, hookd.ErrorCode(err))
			}
		})
	}
}

// Every problem of a file is reported, not just the first.
func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("f.yaml", []byte(`
tenants:
  - id: acme
    endpoints:
      - name: a
        url: not a url
        events: ["*"]
      - name: b
        url: https://example.com
        events: ["*"]
        colour: red
`), nil)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	// Decoding problems come first: validation runs on a decoded file.
	if len(ce.Problems) != 1 || ce.Problems[0].Line != 11 {
		t.Fatalf("problems = %+v", ce.Problems)
	}
	_, err = config.Parse("f.yaml", []byte(`
tenants:
  - id: acme
    endpoints:
      - name: a
        url: not a url
        events: ["*"]
      - name: b
        url: https://example.com
        events: ["nope.*.x"]
`), nil)
	if !errors.As(err, &ce) || len(ce.Problems) != 2 || ce.Problems[0].Line != 6 || ce.Problems[1].Line != 10 ||
		ce.Problems[0].Resource != "endpoint acme/a" || ce.Problems[1].Resource != "endpoint acme/b" {
		t.Fatalf("err = %v", err)
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
tenants:
  - id: ${TENANT}
    name: "${TENANT_NAME:-Acme Corp}"
    endpoints:
      - name: billing
        description: "costs $${HOME} and $$5 and $x and ${EMPTY:-}"
        url: https://${HOST}/hooks/${PATH_PART:-in}
        events: ["${PREFIX}.*"]
        max_in_flight: ${IN_FLIGHT}
        rate_limit: ${RATE:-2.5}
        timeout: ${TIMEOUT:-20}
        headers:
          Authorization: Bearer ${TOKEN}
          X-Count: "${IN_FLIGHT}"
        filter:
          data.amount:
            type: gt
            pattern: ${MIN_AMOUNT}
`, map[string]string{"TENANT": "acme", "HOST": "example.com", "PREFIX": "invoice", "IN_FLIGHT": "4", "TOKEN": "t0k", "MIN_AMOUNT": "100"})
	tn := f.Tenants[0]
	ep := tn.Endpoints[0]
	checks := []struct{ got, want any }{
		{tn.ID, "acme"},
		{tn.Name, "Acme Corp"},
		{ep.Description, "costs ${HOME} and $$5 and $x and "},
		{ep.URL, "https://example.com/hooks/in"},
		{ep.Events[0], "invoice.*"},
		{ep.MaxInFlight, 4},
		{ep.RateLimit, 2.5},
		{ep.Timeout, config.Duration(20e9)},
		{ep.Headers["Authorization"], "Bearer t0k"},
		{ep.Headers["X-Count"], "4"},
		{string(ep.Filter), `{"data.amount":{"pattern":100,"type":"gt"}}`},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("%d: got %#v, want %#v", i, c.got, c.want)
		}
	}
}

// A quoted reference stays a string: the value is not read as YAML.
func TestExpandQuotedStaysString(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("f.yaml", []byte(`
tenants:
  - id: acme
    endpoints:
      - name: a
        url: https://example.com
        events: ["*"]
        max_in_flight: "${N}"
`), env(map[string]string{"N": "4"}))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:8: expected a number") {
		t.Fatalf("err = %v", err)
	}
	// A value is never read as YAML structure.
	f, err := config.Parse("f.yaml", []byte(`
tenants:
  - id: acme
    name: ${NAME}
`), env(map[string]string{"NAME": "x\nid: evil"}))
	if err != nil || f.Tenants[0].Name != "x\nid: evil" || f.Tenants[0].ID != "acme" {
		t.Fatalf("f = %+v, err = %v", f, err)
	}
}

func TestKeysAndSecretsNotKept(t *testing.T) {
	t.Parallel()
	key := "hk_" + strings.Repeat("k", 43)
	f := mustParse(t, `
keys:
  - name: root
    key: ${ROOT_KEY}
tenants:
  - id: acme
    endpoints:
      - name: billing
        url: https://example.com
        events: ["*"]
        secret: ${BILLING_SECRET}
`, map[string]string{"ROOT_KEY": key, "BILLING_SECRET": secret('a')})
	if f.Keys[0].Key != "${ROOT_KEY}" || f.Tenants[0].Endpoints[0].Secret != "${BILLING_SECRET}" {
		t.Fatalf("file keeps %q, %q", f.Keys[0].Key, f.Tenants[0].Endpoints[0].Secret)
	}
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), key) || strings.Contains(string(out), secret('a')) {
		t.Fatalf("Marshal wrote a secret:\n%s", out)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	src := []byte(`
tenants:
  - id: acme
    endpoints:
      - name: local
        url: http://localhost:9000/hook
        events: ["*"]
    rules:
      - name: run
        trigger: run
        action: {type: command, command: [/bin/true]}
`)
	if _, err := config.Parse("f.yaml", src, nil); err == nil {
		t.Fatal("http URL and command accepted by default")
	}
	if _, err := config.ParseWith("f.yaml", src, nil, config.Options{AllowInsecure: true, AllowCommands: true}); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookd.yaml")
	if err := os.WriteFile(path, []byte("tenants:\n  - id: acme\n    nmae: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), path+`:3: unknown key "nmae" in tenant (did you mean "name"?)`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); hookd.ErrorCode(err) != hookd.EINVALID {
		t.Fatalf("missing file: %v", err)
	}
}

// Anchors and merge keys work, and the keys they bring in are checked.
func TestMergeKeys(t *testing.T) {
	t.Parallel()
	f := mustParse(t, `
tenants:
  - id: acme
    endpoints:
      - &base
        name: a
        url: https://example.com/a
        events: ["*"]
        timeout: 5s
      - <<: *base
        name: b
`, nil)
	if b := f.Tenants[0].Endpoints[1]; b.URL != "https://example.com/a" || b.Timeout != config.Duration(5e9) {
		t.Fatalf("b = %+v", b)
	}
	_, err := config.Parse("f.yaml", []byte(`
tenants:
  - id: acme
    event_types:
      - &base {name: a.b, descripton: x}
      - <<: *base
        name: a.c
`), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown key "descripton"`) {
		t.Fatalf("err = %v", err)
	}
}

// Variables lists what a client sends along with a file: the set
// variables its values reference, nothing from comments, keys or escapes.
func TestVariables(t *testing.T) {
	t.Parallel()
	src := []byte(`
# ${IN_COMMENT}
tenants:
  - id: ${TENANT}
    name: "$${ESCAPED} ${UNSET:-x} ${EMPTY:-}"
    endpoints:
      - name: a
        url: https://${HOST}/${HOST}
        events: ["*"]
        secret: ${SECRET}
        headers: {"${IN_KEY}": "${BAD NAME} ${TOKEN}"}
`)
	got := config.Variables(src, env(map[string]string{"TENANT": "acme", "HOST": "h", "SECRET": "s", "TOKEN": "t",
		"IN_COMMENT": "c", "ESCAPED": "e", "IN_KEY": "k", "EMPTY": ""}))
	want := map[string]string{"TENANT": "acme", "HOST": "h", "SECRET": "s", "TOKEN": "t"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if len(config.Variables([]byte("{"), env(nil))) != 0 {
		t.Fatal("variables of a broken file")
	}
}

// Aliases to aliases cannot make a small file huge.
func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("tenants:\n  - &t0\n    id: acme\n    event_types: [{name: a.b}, {name: a.c}, {name: a.d}, {name: a.e}, {name: a.f}, {name: a.g}, {name: a.h}, {name: a.i}]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "  - &t%d [*t%d, *t%d, *t%d, *t%d, *t%d, *t%d, *t%d, *t%d]\n", i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	_, err := config.Parse("bomb.yaml", []byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "too large once its aliases are expanded") {
		t.Fatalf("err = %v", err)
	}
}

// A secret brought in by an alias is not a reference: refused, so that a
// File never holds a secret value.
func TestSecretThroughAlias(t *testing.T) {
	t.Parallel()
	_, err := config.Parse("f.yaml", []byte(`
tenants:
  - id: acme
    name: &s ${BILLING_SECRET}
    endpoints:
      - name: a
        url: https://example.com
        events: ["*"]
        secret: *s
`), env(map[string]string{"BILLING_SECRET": secret('a')}))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:9: endpoint acme/a: secret: write a ${VAR} reference") {
		t.Fatalf("err = %v", err)
	}
}
