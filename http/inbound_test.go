package http_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// hook sends a request to /v1/webhooks/ + path. Content-Type is
// application/json unless h names it (an empty list: none is sent).
func (e *env) hook(t *testing.T, method, path string, body []byte, h http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+"/v1/webhooks/"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h["Content-Type"]; !ok {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	if out.raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(out.raw, &out.body); err != nil {
			t.Fatalf("answer is not a JSON object: %s", out.raw)
		}
	}
	return out
}

// source creates a source of acme from body and returns the answer.
func (e *env) source(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	return e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/sources", body)
}

// storedSource reads a source from the store, secrets and counters included.
func (e *env) storedSource(t *testing.T, name string) *hookd.Source {
	t.Helper()
	src, err := e.store.FindSourceByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// triggers returns every stored trigger of acme, newest first.
func (e *env) triggers(t *testing.T) []*hookd.Trigger {
	t.Helper()
	list, _, err := e.store.FindTriggers(context.Background(), hookd.TriggerFilter{TenantID: "acme", Page: hookd.Page{Limit: hookd.MaxPageSize}})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// storedTrigger reads one trigger of acme from the store.
func (e *env) storedTrigger(t *testing.T, id string) *hookd.Trigger {
	t.Helper()
	tr, err := e.store.FindTriggerByID(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// sign returns the headers that make body pass cfg's verifier now.
func sign(t *testing.T, cfg signature.VerifierConfig, body []byte, now time.Time) http.Header {
	t.Helper()
	h, err := signature.SignRequest(cfg, body, now)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// verifierCase is a source verifier and how to sign for it.
type verifierCase struct {
	typ      string
	settings map[string]any // verifier settings besides type and secrets
	secrets  []string
	cfg      signature.VerifierConfig
	// missing names the check a request without credentials fails.
	missing string
}

func verifierCases() []verifierCase {
	std := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cases := []verifierCase{
		{typ: "github", secrets: []string{"gh-secret-1"}, missing: "X-Hub-Signature-256 signature: missing"},
		{typ: "gitlab", secrets: []string{"gl-token-1"}, missing: "X-Gitlab-Token"},
		{typ: "bitbucket", secrets: []string{"bb-secret-1"}, missing: "X-Hub-Signature signature: missing"},
		{typ: "stripe", secrets: []string{"whsec_stripe1"}, missing: "Stripe-Signature"},
		{typ: "slack", secrets: []string{"slack-secret-1"}, missing: "X-Slack-"},
		{typ: "shopify", secrets: []string{"shop-secret-1"}, missing: "X-Shopify-Hmac-Sha256"},
		{typ: "standard", secrets: []string{std}, missing: "Webhook-Signature signature: missing"},
		{typ: "hmac", settings: map[string]any{"header": "X-Custom-Sig", "algorithm": "sha512", "encoding": "base64", "prefix": "v1=",
			"timestamp_header": "X-Custom-Ts"}, secrets: []string{"hmac-secret-1"}, missing: "X-Custom-"},
		{typ: "token", settings: map[string]any{"header": "X-Hook-Token"}, secrets: []string{"token-secret-1"}, missing: "X-Hook-Token"},
		{typ: "basic", settings: map[string]any{"username": "sender"}, secrets: []string{"basic-pass-1"}, missing: "Authorization"},
	}
	for i := range cases {
		c := &cases[i]
		c.cfg = signature.VerifierConfig{Type: c.typ, Secrets: c.secrets}
		for k, v := range c.settings {
			s := v.(string)
			switch k {
			case "header":
				c.cfg.Header = s
			case "algorithm":
				c.cfg.Algorithm = s
			case "encoding":
				c.cfg.Encoding = s
			case "prefix":
				c.cfg.Prefix = s
			case "timestamp_header":
				c.cfg.TimestampHeader = s
			case "username":
				c.cfg.Username = s
			}
		}
	}
	return cases
}

func (c verifierCase) body() map[string]any {
	v := map[string]any{"type": c.typ, "secrets": c.secrets}
	for k, s := range c.settings {
		v[k] = s
	}
	return v
}

// refusedOnly checks that nothing but the source's rejected count (and its
// last request time) changed since before, and that no trigger was stored
// and the runner not woken.
func (e *env) refusedOnly(t *testing.T, before *hookd.Source, triggers int, wakes int64) {
	t.Helper()
	after := e.storedSource(t, before.Name)
	if after.Rejected != before.Rejected+1 {
		t.Errorf("rejected = %d, want %d", after.Rejected, before.Rejected+1)
	}
	if after.LastRequestAt == nil {
		t.Error("a refused request does not set the last request time")
	}
	a, b := *after, *before
	a.Rejected, a.LastRequestAt, b.Rejected, b.LastRequestAt = 0, nil, 0, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) || !slices.Equal(a.Verifier.Secrets, b.Verifier.Secrets) {
		t.Errorf("a refused request changed the source:\n%s\n%s", jb, ja)
	}
	if got := len(e.triggers(t)); got != triggers {
		t.Errorf("triggers = %d after a refusal, want %d", got, triggers)
	}
	if got := e.triggerWakes.Load(); got != wakes {
		t.Errorf("the runner was woken by a refusal")
	}
}

// Every verifier type accepts a request signed as its provider signs, and
// refuses one without credentials, one signed with another secret and one
// whose body was changed, naming the check; a refusal changes nothing but
// the source's rejected count.
func TestWebhookVerifiers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := []byte(`{"event":"ping","n":1}`)
	for _, c := range verifierCases() {
		t.Run(c.typ, func(t *testing.T) {
			name := "verify/" + c.typ
			e.source(t, map[string]any{"name": name, "verifier": c.body()})
			now := e.clock.Now()
			good := sign(t, c.cfg, body, now)
			r := e.hook(t, "POST", name, body, good)
			if r.status != 202 || !strings.HasPrefix(r.body["id"].(string), "trg_") {
				t.Fatalf("signed request = %d %s", r.status, r.raw)
			}
			other := c.cfg
			other.Secrets = []string{c.secrets[0] + "x"}
			if c.typ == "standard" || c.typ == "stripe" {
				other.Secrets = []string{"whsec_T3RoZXJTZWNyZXRPdGhlclNlY3JldA=="}
			}
			refusals := []struct {
				name string
				body []byte
				h    http.Header
				want string
			}{
				{"no credentials", body, http.Header{}, c.missing},
				{"another secret", body, sign(t, other, body, now), "does not match"},
				{"changed body", []byte(`{"event":"ping","n":2}`), good, "does not match"},
			}
			if c.typ == "gitlab" || c.typ == "token" || c.typ == "basic" {
				refusals = refusals[:2] // the credential does not depend on the body
			}
			for _, x := range refusals {
				before, n, wakes := e.storedSource(t, name), len(e.triggers(t)), e.triggerWakes.Load()
				r := e.hook(t, "POST", name, x.body, x.h)
				if r.status != 401 || errorCode(t, r.body) != "unauthorized" {
					t.Fatalf("%s: %d %s, want 401", x.name, r.status, r.raw)
				}
				msg := r.body["error"].(map[string]any)["message"].(string)
				if !strings.Contains(msg, x.want) {
					t.Errorf("%s: message %q does not name %q", x.name, msg, x.want)
				}
				for _, s := range slices.Concat(c.secrets, other.Secrets) {
					if strings.Contains(string(r.raw), s) {
						t.Errorf("%s: the answer shows a secret: %s", x.name, r.raw)
					}
				}
				for _, vals := range sign(t, c.cfg, x.body, now) {
					for _, v := range vals {
						if len(v) > 12 && strings.Contains(string(r.raw), v) {
							t.Errorf("%s: the answer shows the expected signature: %s", x.name, r.raw)
						}
					}
				}
				e.refusedOnly(t, before, n, wakes)
			}
		})
	}

	// A timestamp out of tolerance is refused, naming the timestamp check.
	c := verifierCases()[4] // slack
	old := sign(t, c.cfg, body, e.clock.Now().Add(-10*time.Minute))
	r := e.hook(t, "POST", "verify/slack", body, old)
	if r.status != 401 || !strings.Contains(string(r.raw), "X-Slack-Request-Timestamp timestamp: too old") {
		t.Fatalf("old slack request = %d %s", r.status, r.raw)
	}
}

// The apikey verifier takes a usable admin key or token of the source's
// tenant wherever signature.APIKeyFrom looks, and nothing else.
func TestWebhookAPIKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "st2/sample", "verifier": map[string]any{"type": "apikey"}})
	tok := e.want(t, 201, e.admin, "POST", "/v1/tokens", map[string]any{"ttl": "1h"})["token"].(string)
	expired, _ := e.newKey(t, "acme", hookd.RoleAdmin, func() *time.Time { x := e.clock.Now().Add(-time.Minute); return &x }())
	body := []byte(`{"key1":"value1"}`)
	cases := []struct {
		name   string
		h      http.Header
		query  string
		status int
		msg    string
	}{
		{"St2-Api-Key", http.Header{"St2-Api-Key": {e.admin}}, "", 202, ""},
		{"X-Auth-Token with a token", http.Header{"X-Auth-Token": {tok}}, "", 202, ""},
		{"X-Api-Key", http.Header{"X-Api-Key": {e.admin}}, "", 202, ""},
		{"bearer", http.Header{"Authorization": {"Bearer " + e.admin}}, "", 202, ""},
		{"query", nil, "?st2-api-key=" + e.admin, 202, ""},
		{"query any case", nil, "?X-Auth-Token=" + tok, 202, ""},
		{"superadmin", http.Header{"X-Api-Key": {e.super}}, "", 401, "not an admin key"},
		{"none", nil, "", 401, "API key: missing"},
		{"viewer", http.Header{"St2-Api-Key": {e.viewer}}, "", 401, "not an admin key"},
		{"other tenant's admin", http.Header{"St2-Api-Key": {e.other}}, "", 401, "not an admin key"},
		{"unknown", http.Header{"St2-Api-Key": {hookd.NewAPIKeySecret()}}, "", 401, "unknown, revoked or expired"},
		{"expired", http.Header{"St2-Api-Key": {expired}}, "", 401, "unknown, revoked or expired"},
	}
	for _, c := range cases {
		before, n, wakes := e.storedSource(t, "st2/sample"), len(e.triggers(t)), e.triggerWakes.Load()
		r := e.hook(t, "POST", "st2/sample"+c.query, body, c.h)
		if r.status != c.status || (c.msg != "" && !strings.Contains(string(r.raw), c.msg)) {
			t.Errorf("%s: %d %s, want %d %q", c.name, r.status, r.raw, c.status, c.msg)
			continue
		}
		if c.status == 401 {
			e.refusedOnly(t, before, n, wakes)
			continue
		}
		tr := e.storedTrigger(t, r.body["id"].(string))
		raw, _ := json.Marshal(tr)
		for _, k := range []string{e.admin, tok} {
			if strings.Contains(string(raw), k) {
				t.Errorf("%s: the stored trigger holds the credential: %s", c.name, raw)
			}
		}
	}
}

// Each refusal has its status, is counted on the source, and stores
// nothing; an unknown source and a wrong method reveal nothing and count
// nowhere.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "small", "verifier": map[string]any{"type": "none"}, "max_body_bytes": 10})
	e.source(t, map[string]any{"name": "json-only", "verifier": map[string]any{"type": "none"}, "content_types": []string{"json"}})
	e.source(t, map[string]any{"name": "text-only", "verifier": map[string]any{"type": "none"}, "content_types": []string{"text"}})
	e.source(t, map[string]any{"name": "all", "verifier": map[string]any{"type": "none"}})
	e.source(t, map[string]any{"name": "gh", "verifier": map[string]any{"type": "github", "secrets": []string{"s"}}, "content_types": []string{"json"}})
	ct := func(v string) http.Header { return http.Header{"Content-Type": {v}} }
	signed := sign(t, signature.VerifierConfig{Type: "github", Secrets: []string{"s"}}, []byte("hi"), time.Now())
	signed.Set("Content-Type", "text/plain")
	cases := []struct {
		name   string
		source string
		body   string
		h      http.Header
		status int
		code   string
	}{
		{"over the limit", "small", `{"a":"0123456789"}`, nil, 413, "too_large"},
		{"over the limit, chunked", "small", "chunked:" + `{"a":"0123456789"}`, nil, 413, "too_large"},
		{"media type not taken", "json-only", "hi", ct("text/plain"), 415, "unsupported"},
		{"form not taken", "json-only", "a=1", ct("application/x-www-form-urlencoded"), 415, "unsupported"},
		{"unknown media type", "all", "x", ct("image/png"), 415, "unsupported"},
		{"malformed media type", "all", "x", ct("text/"), 415, "unsupported"},
		{"no media type, no JSON taken", "text-only", "hi", http.Header{"Content-Type": {}}, 415, "unsupported"},
		{"verified before the media type", "gh", "hi", ct("text/plain"), 401, "unauthorized"},
		{"signed, but a media type not taken", "gh", "hi", signed, 415, "unsupported"},
		{"malformed JSON", "all", `{"a":`, nil, 400, "invalid"},
		{"two JSON values", "all", `{} {}`, nil, 400, "invalid"},
		{"JSON not UTF-8", "all", "\"\xff\"", nil, 400, "invalid"},
		{"malformed JSON in +json", "all", `[1,`, ct("application/vnd.api+json"), 400, "invalid"},
		{"malformed form", "all", "a=%zz", ct("application/x-www-form-urlencoded"), 400, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, n, wakes := e.storedSource(t, c.source), len(e.triggers(t)), e.triggerWakes.Load()
			var r response
			if rest, ok := strings.CutPrefix(c.body, "chunked:"); ok {
				r = e.chunked(t, c.source, rest)
			} else {
				r = e.hook(t, "POST", c.source, []byte(c.body), c.h)
			}
			if r.status != c.status || errorCode(t, r.body) != c.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, c.status, c.code)
			}
			e.refusedOnly(t, before, n, wakes)
		})
	}

	// Unknown sources: 404, the same answer for every name, no key needed.
	var first []byte
	for _, name := range []string{"nope", "a/b/c", "..%2f..%2fetc", "%20", "", "st2x", "small/extra"} {
		r := e.hook(t, "POST", name, []byte(`{}`), nil)
		if r.status != 404 || errorCode(t, r.body) != "not_found" {
			t.Fatalf("unknown source %q: %d %s", name, r.status, r.raw)
		}
		if first == nil {
			first = r.raw
		} else if !bytes.Equal(first, r.raw) {
			t.Errorf("unknown source %q answers %s, %q answers %s", name, r.raw, "nope", first)
		}
	}
	// Other methods: 405 with Allow, before any lookup or credential.
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH"} {
		for _, name := range []string{"all", "nope", "st2"} {
			before := e.storedSource(t, "all").Rejected
			r := e.hook(t, m, name, nil, nil)
			if r.status != 405 || r.header.Get("Allow") != "POST" || errorCode(t, r.body) != "method_not_allowed" {
				t.Fatalf("%s %s = %d %s (Allow %q)", m, name, r.status, r.raw, r.header.Get("Allow"))
			}
			if e.storedSource(t, "all").Rejected != before {
				t.Errorf("%s counted as a refusal", m)
			}
		}
	}
	if got := len(e.triggers(t)); got != 0 {
		t.Errorf("%d triggers stored by refused requests", got)
	}
}

// chunked posts body without a Content-Length, so only reading it can
// tell it is too large.
func (e *env) chunked(t *testing.T, source, body string) response {
	t.Helper()
	req, err := http.NewRequest("POST", e.url+"/v1/webhooks/"+source, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if req.ContentLength != 0 {
		t.Fatalf("ContentLength = %d, want unknown", req.ContentLength)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	out.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(out.raw, &out.body)
	return out
}

// A source's rate limit: bursts of twice the rate, then 429 with
// Retry-After, counted as refusals; tokens come back with time.
func TestWebhookRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "limited", "verifier": map[string]any{"type": "none"}, "rate_limit": 0.5})
	e.source(t, map[string]any{"name": "free", "verifier": map[string]any{"type": "none"}})
	// rate 0.5/s: a burst of one (2 x 0.5), then a token every 2 s.
	e.want(t, 202, "", "POST", "/v1/webhooks/limited", map[string]any{})
	before, n, wakes := e.storedSource(t, "limited"), len(e.triggers(t)), e.triggerWakes.Load()
	r := e.hook(t, "POST", "limited", []byte(`{}`), nil)
	if r.status != 429 || r.header.Get("Retry-After") != "2" || errorCode(t, r.body) != "rate_limited" {
		t.Fatalf("over the limit = %d %s, Retry-After %q", r.status, r.raw, r.header.Get("Retry-After"))
	}
	e.refusedOnly(t, before, n, wakes)
	for range 5 { // other sources are not limited
		e.want(t, 202, "", "POST", "/v1/webhooks/free", map[string]any{})
	}
	e.clock.Add(2 * time.Second)
	e.want(t, 202, "", "POST", "/v1/webhooks/limited", map[string]any{})

	// A higher rate allows bursts of twice it, and a change applies at once.
	e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/sources/limited", map[string]any{"rate_limit": 2})
	e.clock.Add(10 * time.Second)
	for i := range 4 {
		if r := e.hook(t, "POST", "limited", []byte(`{}`), nil); r.status != 202 {
			t.Fatalf("request %d of a burst of 4 = %d %s", i, r.status, r.raw)
		}
	}
	if r := e.hook(t, "POST", "limited", []byte(`{}`), nil); r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("fifth = %d %s, Retry-After %q", r.status, r.raw, r.header.Get("Retry-After"))
	}
}

// A stored trigger keeps no credential or signature: every header that
// carries one and the API key parameters are "[redacted]"; the rest is
// kept as sent, the body byte for byte with its SHA-256, the provider's
// delivery id and the git fields.
func TestWebhookTriggerRedaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := "gh-" + hookd.NewAPIKeySecret()
	e.source(t, map[string]any{"name": "ci/github", "verifier": map[string]any{"type": "github", "secrets": []string{secret}}})
	body := []byte(`{"ref": "refs/heads/main", "after": "abc123", "before": "000",
  "repository": {"full_name": "acme/api"}, "sender": {"login": "ann"}, "big": 12345678901234567890}` + "\n")
	h := sign(t, signature.VerifierConfig{Type: "github", Secrets: []string{secret}}, body, e.clock.Now())
	sig := h.Get("X-Hub-Signature-256")
	cred := map[string]string{
		"Authorization": "Bearer " + e.admin, "Cookie": "session=cookie-secret", "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
		"X-Hub-Signature": "sha1=0123456789abcdef0123456789abcdef01234567", "X-Api-Key": "xapikey-secret",
		"St2-Api-Key": "st2-secret", "X-Auth-Token": "auth-token-secret", "X-Gitlab-Token": "gitlab-secret",
	}
	for k, v := range cred {
		h.Set(k, v)
	}
	h.Set("X-GitHub-Event", "push")
	h.Set("X-GitHub-Delivery", "d-1")
	h.Set("Referer", "https://user:pass-secret@hooks.example.com/v1/webhooks/ci/github?Api_Key=ref-secret&keep=1")
	h.Set("X-Custom", "kept")
	h.Add("X-Multi", "a")
	h.Add("X-Multi", "b")
	r := e.hook(t, "POST", "ci/github/?api_key=q-secret-1&ST2-API-KEY=q-secret-2&x-auth-token=q-secret-3&keep=1&keep=2", body, h)
	if r.status != 202 {
		t.Fatalf("signed push = %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if e.triggerWakes.Load() != 1 {
		t.Error("OnTrigger was not called")
	}
	tr := e.storedTrigger(t, id)
	for _, name := range slices.Concat([]string{"X-Hub-Signature-256"}, slices.Collect(mapKeys(cred))) {
		if got := tr.Headers[http.CanonicalHeaderKey(name)]; got != "[redacted]" {
			t.Errorf("header %s = %q, want [redacted]", name, got)
		}
	}
	for _, p := range []string{"api_key", "ST2-API-KEY", "x-auth-token"} {
		if got := tr.Query[p]; !slices.Equal(got, []string{"[redacted]"}) {
			t.Errorf("query %s = %q, want [redacted]", p, got)
		}
	}
	if !slices.Equal(tr.Query["keep"], []string{"1", "2"}) || tr.Headers["X-Custom"] != "kept" || tr.Headers["X-Multi"] != "a, b" ||
		tr.Headers["X-Github-Event"] != "push" || !strings.HasPrefix(tr.Headers["Referer"], "https://%5Bredacted%5D@hooks.example.com/v1/webhooks/ci/github?") ||
		!strings.Contains(tr.Headers["Referer"], "keep=1") {
		t.Errorf("other headers or parameters not kept: %v %v", tr.Headers, tr.Query)
	}
	sum := sha256.Sum256(body)
	if string(tr.Body) != string(body) || tr.BodySHA256 != hex.EncodeToString(sum[:]) || tr.ContentType != "application/json" ||
		tr.Source != "ci/github" || tr.Method != "POST" || tr.DeliveryID != "d-1" || tr.Name != "" {
		t.Errorf("stored trigger = %+v", tr)
	}
	if g := tr.Git; g == nil || g.Provider != "github" || g.Event != "push" || g.Repo != "acme/api" || g.Branch != "main" || g.SHA != "abc123" || g.Actor != "ann" {
		t.Errorf("git = %+v", tr.Git)
	}
	// No credential, secret or signature anywhere: not in the store, not
	// in the API's answers.
	raw, _ := json.Marshal(tr)
	api := e.call(t, e.viewer, "GET", "/v1/tenants/acme/triggers/"+id, nil).raw
	list := e.call(t, e.viewer, "GET", "/v1/tenants/acme/triggers", nil).raw
	for _, s := range slices.Concat([]string{secret, sig, strings.TrimPrefix(sig, "sha256="), e.admin, "q-secret", "cookie-secret", "cHJveHk6c2VjcmV0", "pass-secret", "ref-secret"},
		slices.Collect(mapValues(cred))) {
		for where, b := range map[string][]byte{"store": raw, "GET": api, "list": list} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s shows %q: %s", where, s, b)
			}
		}
	}
	if !strings.Contains(string(api), `"big":12345678901234567890`) {
		t.Errorf("the body's numbers are not kept exactly: %s", api)
	}

	// A header override is redacted too.
	e.source(t, map[string]any{"name": "owl", "verifier": map[string]any{"type": "github", "header": "X-Owlette-Signature", "secrets": []string{secret}}})
	h = sign(t, signature.VerifierConfig{Type: "github", Header: "X-Owlette-Signature", Secrets: []string{secret}}, body, e.clock.Now())
	r = e.hook(t, "POST", "owl", body, h)
	if r.status != 202 {
		t.Fatalf("owlette = %d %s", r.status, r.raw)
	}
	if tr := e.storedTrigger(t, r.body["id"].(string)); tr.Headers["X-Owlette-Signature"] != "[redacted]" || tr.Git != nil {
		t.Errorf("owlette trigger headers = %v, git %v", tr.Headers, tr.Git)
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// Bodies are stored by kind: JSON as sent, a form as an object of strings
// (lists for repeated keys), text as a JSON string; an empty body is
// null; no Content-Type is JSON.
func TestWebhookBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "any", "verifier": map[string]any{"type": "none"}})
	cases := []struct {
		name, ct, body, want string
	}{
		{"json", "application/json; charset=utf-8", `{"b": [1, 2.50], "a": "é<&>"}`, `{"b": [1, 2.50], "a": "é<&>"}`},
		{"+json", "application/cloudevents+json", `[true]`, `[true]`},
		{"no media type", "", ` "x" `, ` "x" `},
		{"empty JSON", "application/json", "", `null`},
		{"form", "application/x-www-form-urlencoded", "a=1&b=x+y&a=2&c=%3C%26%3E", `{"a":["1","2"],"b":"x y","c":"<&>"}`},
		{"empty form", "application/x-www-form-urlencoded", "", `{}`},
		{"text", "text/plain; charset=utf-8", "line 1\nline \"2\" <&>", `"line 1\nline \"2\" <&>"`},
		{"text not UTF-8", "text/plain", "a\xffb", `"a` + "\uFFFD" + `b"`},
	}
	for _, c := range cases {
		h := http.Header{"Content-Type": {c.ct}}
		if c.ct == "" {
			h = http.Header{"Content-Type": {}}
		}
		r := e.hook(t, "POST", "any", []byte(c.body), h)
		if r.status != 202 {
			t.Errorf("%s: %d %s", c.name, r.status, r.raw)
			continue
		}
		tr := e.storedTrigger(t, r.body["id"].(string))
		if string(tr.Body) != c.want || tr.ContentType != c.ct {
			t.Errorf("%s: body %s (%q), want %s (%q)", c.name, tr.Body, tr.ContentType, c.want, c.ct)
		}
		if sum := sha256.Sum256([]byte(c.body)); tr.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: body_sha256 is not of the raw body", c.name)
		}
	}
	// GitHub's form content type: the git fields come from the payload field.
	payload := `{"ref":"refs/tags/v1.0","after":"abc","repository":{"full_name":"acme/api"}}`
	r := e.hook(t, "POST", "any", []byte("payload="+url.QueryEscape(payload)),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Github-Event": {"push"}})
	if tr := e.storedTrigger(t, r.body["id"].(string)); tr.Git == nil || tr.Git.Event != "tag" || tr.Git.Tag != "v1.0" || tr.Git.Provider != "github" {
		t.Errorf("git of a form push = %+v", tr.Git)
	}
}

// A provider delivery id seen within the source's window is acknowledged
// with the first trigger's id and Idempotent-Replayed, and not stored or
// processed again; after the window it is new.
func TestWebhookDedup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "gl", "verifier": map[string]any{"type": "gitlab", "secrets": []string{"tok"}}, "dedup_window": "1h"})
	e.source(t, map[string]any{"name": "other", "verifier": map[string]any{"type": "none"}})
	e.source(t, map[string]any{"name": "pay", "verifier": map[string]any{"type": "stripe", "secrets": []string{"whsec_x"}}})
	h := http.Header{"X-Gitlab-Token": {"tok"}, "X-Gitlab-Event-Uuid": {"uuid-1"}, "X-Gitlab-Event": {"Push Hook"}}
	first := e.hook(t, "POST", "gl", []byte(`{"n":1}`), h)
	again := e.hook(t, "POST", "gl", []byte(`{"n":2}`), h)
	if first.status != 202 || again.status != 202 || again.body["id"] != first.body["id"] || again.header.Get("Idempotent-Replayed") != "true" ||
		first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first %d %s %v, again %d %s %v", first.status, first.raw, first.header, again.status, again.raw, again.header)
	}
	if n := len(e.triggers(t)); n != 1 || e.triggerWakes.Load() != 1 {
		t.Fatalf("triggers = %d, wakes = %d after a duplicate", n, e.triggerWakes.Load())
	}
	if src := e.storedSource(t, "gl"); src.Accepted != 1 || src.Rejected != 0 {
		t.Errorf("accepted %d rejected %d", src.Accepted, src.Rejected)
	}
	// The same id at another source is another delivery.
	if r := e.hook(t, "POST", "other", []byte(`{}`), http.Header{"X-Gitlab-Event-Uuid": {"uuid-1"}}); r.status != 202 || r.body["id"] == first.body["id"] {
		t.Errorf("same id, other source = %d %s", r.status, r.raw)
	}
	// Each header a provider names its deliveries with de-duplicates.
	for _, name := range []string{"X-GitHub-Delivery", "Idempotency-Key", "webhook-id", "svix-id", "X-Request-UUID", "X-Shopify-Webhook-Id"} {
		a := e.hook(t, "POST", "other", []byte(`{}`), http.Header{name: {"id-" + name}})
		b := e.hook(t, "POST", "other", []byte(`{}`), http.Header{name: {"id-" + name}})
		if a.body["id"] != b.body["id"] || b.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s does not de-duplicate: %s %s", name, a.raw, b.raw)
		}
	}
	// Stripe: the event's id.
	cfg := signature.VerifierConfig{Type: "stripe", Secrets: []string{"whsec_x"}}
	ev := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	a := e.hook(t, "POST", "pay", ev, sign(t, cfg, ev, e.clock.Now()))
	b := e.hook(t, "POST", "pay", ev, sign(t, cfg, ev, e.clock.Now()))
	if a.status != 202 || a.body["id"] != b.body["id"] || b.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("stripe retry = %s %s", a.raw, b.raw)
	}
	if tr := e.storedTrigger(t, a.body["id"].(string)); tr.DeliveryID != "evt_1" {
		t.Errorf("stripe delivery id = %q", tr.DeliveryID)
	}
	// After the window, the id is new.
	e.clock.Add(61 * time.Minute)
	if late := e.hook(t, "POST", "gl", []byte(`{"n":3}`), h); late.status != 202 || late.body["id"] == first.body["id"] || late.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("after the window = %d %s", late.status, late.raw)
	}
}

// A source's own response replaces 202 {"id"}, duplicates included.
func TestWebhookCustomResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "slacky", "verifier": map[string]any{"type": "none"},
		"response": map[string]any{"status": 200, "body": "<ok/>", "content_type": "application/xml"}})
	e.source(t, map[string]any{"name": "empty", "verifier": map[string]any{"type": "none"}, "response": map[string]any{"status": 204}})
	for range 2 {
		r := e.hook(t, "POST", "slacky", []byte(`{}`), http.Header{"Idempotency-Key": {"k"}})
		if r.status != 200 || string(r.raw) != "<ok/>" || r.header.Get("Content-Type") != "application/xml" {
			t.Fatalf("custom response = %d %q %v", r.status, r.raw, r.header)
		}
	}
	r := e.hook(t, "POST", "empty", []byte(`{}`), nil)
	if r.status != 204 || len(r.raw) != 0 {
		t.Fatalf("empty custom response = %d %q", r.status, r.raw)
	}
	if n := len(e.triggers(t)); n != 2 {
		t.Errorf("triggers = %d, want 2", n)
	}
	// Refusals keep the error shape.
	e.want(t, 400, "", "POST", "/v1/webhooks/slacky", `{`)
	// Removing the response brings back 202 {"id"}.
	got := e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/sources/slacky", map[string]any{"response": nil})
	if _, ok := got["response"]; ok {
		t.Errorf("response not removed: %v", got)
	}
	e.want(t, 202, "", "POST", "/v1/webhooks/slacky", map[string]any{})
}

// POST /v1/triggers stores a generic trigger in the key's tenant; st2
// takes the same body with StackStorm's credentials.
func TestGenericTrigger(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	payload := `{"attribute1": "value1", "n": 1.50}`
	r := e.call(t, e.admin, "POST", "/v1/triggers", `{"trigger":"mypack.mytrigger","payload":`+payload+`}`)
	if r.status != 202 || e.triggerWakes.Load() != 1 {
		t.Fatalf("generic trigger = %d %s", r.status, r.raw)
	}
	tr := e.storedTrigger(t, r.body["id"].(string))
	if tr.Name != "mypack.mytrigger" || tr.Source != "" || tr.SourceID != "" || string(tr.Body) != payload || tr.Headers["Authorization"] != "[redacted]" {
		t.Errorf("stored = %+v", tr)
	}
	cases := []struct {
		name   string
		key    string
		path   string
		body   any
		status int
	}{
		{"viewer", e.viewer, "/v1/triggers", map[string]any{"trigger": "a"}, 403},
		{"no key", "", "/v1/triggers", map[string]any{"trigger": "a"}, 401},
		{"superadmin without tenant", e.super, "/v1/triggers", map[string]any{"trigger": "a"}, 400},
		{"superadmin names it", e.super, "/v1/triggers?tenant=acme", map[string]any{"trigger": "a"}, 202},
		{"another tenant", e.admin, "/v1/triggers?tenant=beta", map[string]any{"trigger": "a"}, 404},
		{"a tenant that does not exist", e.admin, "/v1/triggers?tenant=ghost", map[string]any{"trigger": "a"}, 404},
		{"no name", e.admin, "/v1/triggers", map[string]any{"payload": map[string]any{}}, 400},
		{"bad name", e.admin, "/v1/triggers", map[string]any{"trigger": "a b"}, 400},
		{"unknown field", e.admin, "/v1/triggers", map[string]any{"trigger": "a", "type": "x"}, 400},
		{"not JSON", e.admin, "/v1/triggers", `trigger=a`, 400},
		{"no payload", e.admin, "/v1/triggers", map[string]any{"trigger": "a"}, 202},
	}
	for _, c := range cases {
		if got := e.call(t, c.key, "POST", c.path, c.body); got.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, got.status, got.raw, c.status)
		} else if c.status == 202 && string(e.storedTrigger(t, got.body["id"].(string)).Body) != "{}" {
			t.Errorf("%s: a trigger without payload has body %s", c.name, e.storedTrigger(t, got.body["id"].(string)).Body)
		}
	}
	// Idempotency-Key de-duplicates per name.
	a := e.call(t, e.admin, "POST", "/v1/triggers", map[string]any{"trigger": "dedup"}, "Idempotency-Key", "k1")
	b := e.call(t, e.admin, "POST", "/v1/triggers", map[string]any{"trigger": "dedup"}, "Idempotency-Key", "k1")
	if a.body["id"] != b.body["id"] || b.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotency-Key: %s %s", a.raw, b.raw)
	}
}

func TestST2Compat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.want(t, 201, e.admin, "POST", "/v1/tokens", map[string]any{"ttl": "1h"})["token"].(string)
	body := []byte(`{"trigger": "mypack.mytrigger", "payload": {"attribute1": "value1"}}`)
	cases := []struct {
		name   string
		path   string
		h      http.Header
		status int
	}{
		{"St2-Api-Key", "st2", http.Header{"St2-Api-Key": {e.admin}}, 202},
		{"X-Auth-Token", "st2", http.Header{"X-Auth-Token": {tok}}, 202},
		{"query key", "st2?st2-api-key=" + e.admin, nil, 202},
		{"query token", "st2?x-auth-token=" + tok, nil, 202},
		{"slashes ignored", "st2/", http.Header{"St2-Api-Key": {e.admin}}, 202},
		{"superadmin names the tenant", "st2?tenant=acme", http.Header{"St2-Api-Key": {e.super}}, 202},
		{"no key", "st2", nil, 401},
		{"unknown key", "st2", http.Header{"St2-Api-Key": {hookd.NewAPIKeySecret()}}, 401},
		{"viewer", "st2", http.Header{"St2-Api-Key": {e.viewer}}, 403},
		{"superadmin without tenant", "st2", http.Header{"St2-Api-Key": {e.super}}, 400},
	}
	for _, c := range cases {
		r := e.hook(t, "POST", c.path, body, c.h)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.raw, c.status)
			continue
		}
		if r.status != 202 {
			errorCode(t, r.body)
			continue
		}
		tr := e.storedTrigger(t, r.body["id"].(string))
		raw, _ := json.Marshal(tr)
		if tr.Name != "mypack.mytrigger" || string(tr.Body) != `{"attribute1": "value1"}` || strings.Contains(string(raw), e.admin) ||
			strings.Contains(string(raw), tok) || strings.Contains(string(raw), e.super) {
			t.Errorf("%s: stored %s", c.name, raw)
		}
	}
	// A source cannot take the name.
	for _, name := range []string{"st2", "/st2/", "ST2"} {
		r := e.call(t, e.admin, "POST", "/v1/tenants/acme/sources", map[string]any{"name": name, "verifier": map[string]any{"type": "none"}})
		if r.status != 400 || !strings.Contains(string(r.raw), "reserved") {
			t.Errorf("source %q = %d %s", name, r.status, r.raw)
		}
	}
}

// Inbound requests reuse the source they found for a short time; a change
// made through the API applies to the very next request: a replaced
// secret, a config apply, the source's deletion and its tenant's.
func TestWebhookSourceChangesApplyAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := e.source(t, map[string]any{"name": "ci/gh", "verifier": map[string]any{"type": "github", "secrets": []string{"old"}}})
	body := []byte(`{"zen":"hi"}`)
	signed := func(secret string) http.Header {
		return sign(t, signature.VerifierConfig{Type: "github", Secrets: []string{secret}}, body, time.Now())
	}
	if r := e.hook(t, "POST", "ci/gh", body, signed("old")); r.status != 202 {
		t.Fatalf("signed with the secret: %d %s", r.status, r.raw)
	}
	e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/sources/"+src["id"].(string),
		map[string]any{"verifier": map[string]any{"type": "github", "secrets": []string{"new"}}})
	if r := e.hook(t, "POST", "ci/gh", body, signed("old")); r.status != 401 {
		t.Fatalf("signed with the replaced secret right after the change: %d %s, want 401", r.status, r.raw)
	}
	if r := e.hook(t, "POST", "ci/gh", body, signed("new")); r.status != 202 {
		t.Fatalf("signed with the new secret: %d %s", r.status, r.raw)
	}
	e.want(t, 204, e.admin, "DELETE", "/v1/tenants/acme/sources/"+src["id"].(string), nil)
	if r := e.hook(t, "POST", "ci/gh", body, signed("new")); r.status != 404 {
		t.Fatalf("after the source was deleted: %d %s, want 404", r.status, r.raw)
	}
	// A config file replacing the secret.
	file := func(secret string) map[string]any {
		return map[string]any{"name": "ops/sources.yaml", "env": map[string]string{"SECRET": secret}, "yaml": `tenants:
  - id: files
    name: Files
    sources:
      - name: ci/cfg
        verifier: {type: github, secrets: ["${SECRET}"]}
`}
	}
	e.want(t, 200, e.super, "POST", "/v1/config/apply", file("first"))
	if r := e.hook(t, "POST", "ci/cfg", body, signed("first")); r.status != 202 {
		t.Fatalf("signed with the file's secret: %d %s", r.status, r.raw)
	}
	e.want(t, 200, e.super, "POST", "/v1/config/apply", file("second"))
	if r := e.hook(t, "POST", "ci/cfg", body, signed("first")); r.status != 401 {
		t.Fatalf("signed with the secret the file replaced, right after the apply: %d %s, want 401", r.status, r.raw)
	}
	e.source(t, map[string]any{"name": "ci/gh2", "verifier": map[string]any{"type": "none"}})
	if r := e.hook(t, "POST", "ci/gh2", body, nil); r.status != 202 {
		t.Fatalf("unsigned to a source without verifier: %d %s", r.status, r.raw)
	}
	e.want(t, 204, e.super, "DELETE", "/v1/tenants/acme?confirm=acme", nil)
	if r := e.hook(t, "POST", "ci/gh2", body, nil); r.status != 404 {
		t.Fatalf("after the tenant was deleted: %d %s, want 404", r.status, r.raw)
	}
}
