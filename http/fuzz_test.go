package http_test

import (
	"bytes"
	"encoding/json"
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

// Any Authorization header gets 200 when it carries exactly a valid key or
// token and 401 otherwise: never a panic, another status, or a credential
// accepted in a malformed header.
func FuzzAuthorization(f *testing.F) {
	s, err := sqlite.Open(filepath.Join(f.TempDir(), "fuzz.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ctx := f.Context()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		f.Fatal(err)
	}
	key, revoked := hookd.NewAPIKeySecret(), hookd.NewAPIKeySecret()
	k := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleViewer, Hash: hookd.HashAPIKey(key)}
	rk := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleViewer, Hash: hookd.HashAPIKey(revoked)}
	for _, x := range []*hookd.APIKey{k, rk} {
		if err := s.CreateAPIKey(ctx, x); err != nil {
			f.Fatal(err)
		}
	}
	if err := s.RevokeAPIKey(ctx, rk.ID, time.Now()); err != nil {
		f.Fatal(err)
	}
	tok, expired, ofRevoked := hookd.NewTokenSecret(), hookd.NewTokenSecret(), hookd.NewTokenSecret()
	for _, x := range []struct {
		secret string
		key    string
		exp    time.Time
	}{{tok, k.ID, time.Now().Add(time.Hour)}, {expired, k.ID, time.Now().Add(-time.Hour)}, {ofRevoked, rk.ID, time.Now().Add(time.Hour)}} {
		if err := s.CreateToken(ctx, &hookd.Token{KeyID: x.key, Hash: hookd.HashAPIKey(x.secret), ExpiresAt: x.exp}); err != nil {
			f.Fatal(err)
		}
	}
	valid := map[string]bool{key: true, tok: true}
	h := hookdhttp.NewServer(hookdhttp.Config{Store: s}).Handler()
	for _, seed := range []string{
		"Bearer " + key, "Bearer " + tok, "bearer   " + tok, " BEARER " + key + " ", "Bearer " + key + "x", "Bearer " + tok[:len(tok)-1],
		"Bearer " + expired, "Bearer " + revoked, "Bearer " + ofRevoked, "Bearer " + strings.TrimPrefix(tok, hookd.TokenPrefix),
		"Bearer " + hookd.KeyPrefix + strings.TrimPrefix(tok, hookd.TokenPrefix), "Bearer hkt_", "Bearer " + hookd.HashAPIKey(key),
		"Bearer " + key + " " + tok, "Basic " + key, "Token " + tok, key, "", "Bearer \x00" + key, "Bearer " + key + "\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/tenants/acme/event-types", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		secret, ok := hookdhttp.BearerToken(header)
		want := http.StatusUnauthorized
		if ok && valid[secret] {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Fatalf("Authorization %q: status %d %s, want %d", header, rec.Code, rec.Body, want)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON: %s", rec.Body)
		}
		if rec.Code == http.StatusUnauthorized && (out["error"] == nil || rec.Header().Get("WWW-Authenticate") == "") {
			t.Fatalf("401 without an error body or challenge: %s", rec.Body)
		}
	})
}
