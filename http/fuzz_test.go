package http_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/sqlite"
)

// BearerToken never panics, accepts only well-formed credentials, and
// reads back what it accepted.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{
		"Bearer hk_abc", "bearer x", "BEARER  x", "Bearer", "Bearer ", "Basic abc", "Bearer  a b",
		"Bearer \x00", "Bearer a\tb", " Bearer x ", "Bearer é", "", "Bearer " + strings.Repeat("a", 513),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := hookdhttp.BearerToken(h)
		if !ok {
			if tok != "" {
				t.Fatalf("refused %q but returned %q", h, tok)
			}
			return
		}
		if tok == "" || len(tok) > 512 {
			t.Fatalf("accepted %q as token %q", h, tok)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c > '~' {
				t.Fatalf("accepted %q: token %q has byte %#x", h, tok, c)
			}
		}
		if !strings.Contains(h, tok) {
			t.Fatalf("token %q is not part of %q", tok, h)
		}
		if again, ok := hookdhttp.BearerToken("Bearer " + tok); !ok || again != tok {
			t.Fatalf("token %q does not read back: %q, %v", tok, again, ok)
		}
	})
}

// Any publish body gets a 202 or a 4xx, never a panic or a 5xx; a body
// that is not JSON always gets a 4xx.
func FuzzPublishBody(f *testing.F) {
	s, err := sqlite.Open(filepath.Join(f.TempDir(), "fuzz.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ctx := f.Context()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		f.Fatal(err)
	}
	key := hookd.NewAPIKeySecret()
	if err := s.CreateAPIKey(ctx, &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Hash: hookd.HashAPIKey(key)}); err != nil {
		f.Fatal(err)
	}
	if err := s.CreateEndpoint(ctx, &hookd.Endpoint{TenantID: "acme", URL: "https://example.com", Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret()}}}); err != nil {
		f.Fatal(err)
	}
	h := hookdhttp.NewServer(hookdhttp.Config{Store: s, MaxBodyBytes: 4 << 10}).Handler()
	for _, seed := range []string{
		`{"type":"a.b","data":{}}`, `{"type":"a","data":1,"id":"x"}`, `{"type":"a","data":[1,{"b":null}]}`,
		`{"events":[{"type":"a","data":[]}]}`, `{"events":[{"type":"a","data":1,"idempotency_key":"k"},{"type":"b","data":"x"}]}`,
		`{"events":[`, `{"events":null}`, `{"events":[{}]}`, `{"events":[1]}`, `{"events":[],"events":[]}`,
		`{`, `[]`, `{"type":1}`, `{"type":"a","data":1}x`, `{"type":"a","data":1} `, "", "null", `"str"`, `{"type":"a","data":"\ud800"}`,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, batch bool) {
		path := "/v1/tenants/acme/events"
		if batch {
			path += "/batch"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted && (rec.Code < 400 || rec.Code >= 500) {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
		if !json.Valid([]byte(body)) && rec.Code < 400 {
			t.Fatalf("malformed body %q accepted: %d %s", body, rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON: %s", rec.Body)
		}
		if rec.Code >= 400 && out["error"] == nil {
			t.Fatalf("error answer without error: %s", rec.Body)
		}
	})
}
