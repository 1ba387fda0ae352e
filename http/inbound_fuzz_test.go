package http_test

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/sqlite"
)

// Any content type and body sent to a webhook gets 202, 400, 413 or 415,
// never a panic or a 5xx; an accepted body is stored as valid JSON of the
// kind its content type says (JSON byte for byte, a form as an object, text
// as a string), and a refused one is stored not at all.
func FuzzWebhookBody(f *testing.F) {
	s, err := sqlite.Open(filepath.Join(f.TempDir(), "fuzz.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ctx := f.Context()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		f.Fatal(err)
	}
	for _, src := range []*hookd.Source{
		{TenantID: "acme", Name: "any", Verifier: hookd.SourceVerifier{Type: "none"}},
		{TenantID: "acme", Name: "small", Verifier: hookd.SourceVerifier{Type: "none"}, MaxBodyBytes: 64, ContentTypes: []string{hookd.ContentJSON}},
	} {
		src.SetDefaults()
		if err := s.CreateSource(ctx, src); err != nil {
			f.Fatal(err)
		}
	}
	h := hookdhttp.NewServer(hookdhttp.Config{Store: s, Inbound: s}).Handler()
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"a":[1,2.5e10,"x"],"b":null}`}, {"application/json", `{`}, {"application/json", ``}, {"application/json", " \n"},
		{"application/json", `{} {}`}, {"application/json", "\"\xff\""}, {"application/json", `"\ud800"`}, {"application/json", `1e999`},
		{"application/json; charset=utf-8", `[]`}, {"application/merge-patch+json", `{"a":1}`}, {"", `{"a":1}`}, {"", `x`},
		{"application/x-www-form-urlencoded", "a=1&a=2&b=%20"}, {"application/x-www-form-urlencoded", "a=%zz"},
		{"application/x-www-form-urlencoded", "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D"}, {"application/x-www-form-urlencoded", ";;=&"},
		{"text/plain", "hello\x00\xff"}, {"text/plain; charset=latin1", "caf\xe9"}, {"text/html", "<p>"}, {"text/", "x"},
		{"multipart/form-data; boundary=x", "--x--"}, {"application/json", strings.Repeat("[", 100) + strings.Repeat("]", 100)},
		{"application/json", strings.Repeat(`{"a":`, 20000)}, {"application/x-www-form-urlencoded", strings.Repeat("a=1&", 100)},
	} {
		f.Add(seed.ct, []byte(seed.body), false)
		f.Add(seed.ct, []byte(seed.body), true)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, small bool) {
		path := "/v1/webhooks/any"
		if small {
			path = "/v1/webhooks/small"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header["Content-Type"] = []string{ct}
		if ct == "" {
			delete(req.Header, "Content-Type")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON: %d %s", rec.Code, rec.Body)
		}
		switch rec.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			if out["error"] == nil {
				t.Fatalf("error answer without error: %s", rec.Body)
			}
			return
		case http.StatusAccepted:
		default:
			t.Fatalf("content type %q, body %q: status %d %s", ct, body, rec.Code, rec.Body)
		}
		id, _ := out["id"].(string)
		tr, err := s.FindTriggerByID(ctx, "acme", id)
		if err != nil {
			t.Fatalf("accepted trigger %q not stored: %v", id, err)
		}
		if !json.Valid(tr.Body) {
			t.Fatalf("stored body is not JSON: %q", tr.Body)
		}
		mt, _, _ := mime.ParseMediaType(ct)
		var v any
		_ = json.Unmarshal(tr.Body, &v)
		switch {
		case ct == "" || mt == "application/json" || strings.HasSuffix(mt, "+json"):
			if len(bytes.TrimSpace(body)) == 0 {
				if string(tr.Body) != "null" {
					t.Fatalf("empty JSON body stored as %q", tr.Body)
				}
			} else if !bytes.Equal(tr.Body, body) {
				t.Fatalf("JSON body %q stored as %q", body, tr.Body)
			}
		case mt == "application/x-www-form-urlencoded":
			if _, ok := v.(map[string]any); !ok {
				t.Fatalf("form %q stored as %q", body, tr.Body)
			}
		case mt == "text/plain":
			if _, ok := v.(string); !ok {
				t.Fatalf("text %q stored as %q", body, tr.Body)
			}
		default:
			t.Fatalf("content type %q accepted", ct)
		}
	})
}
