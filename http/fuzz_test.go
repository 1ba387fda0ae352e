package http_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/sqlite"
)

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer hk_abc", "bearer x", "Bearer", "Basic abc", "Bearer  a b", "Bearer \x00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := hookdhttp.BearerToken(h)
		if ok && (tok == "" || strings.ContainsAny(tok, " \t\r\n\x00")) {
			t.Fatalf("accepted %q as token %q", h, tok)
		}
	})
}

// Any publish body gets a 2xx or a 4xx, never a panic or a 5xx.
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
	h := hookdhttp.NewServer(hookdhttp.Config{Store: s}).Handler()
	for _, seed := range []string{`{"type":"a.b","data":{}}`, `{"type":"a","data":1,"id":"x"}`, `{"events":[{"type":"a","data":[]}]}`, `{`, `[]`, `{"type":1}`} {
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
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
	})
}
