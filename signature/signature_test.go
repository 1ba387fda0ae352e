package signature

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

type vector struct {
	Name        string   `json:"name"`
	Secrets     []string `json:"secrets"`
	MsgID       string   `json:"msg_id"`
	Timestamp   int64    `json:"timestamp"`
	Body        string   `json:"body"`
	Standard    string   `json:"standard"`
	Timestamped string   `json:"timestamped"`
	HMAC        string   `json:"hmac"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []vector }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cases
}

var allSchemes = []hookd.Signature{
	{Scheme: hookd.SchemeStandard},
	{Scheme: hookd.SchemeTimestamped, Header: "Roost-Signature"},
	{Scheme: hookd.SchemeHMAC, Header: "X-Hub-Signature-256"},
}

// Sign must produce exactly what an independent implementation computed.
func TestSignMatchesIndependentVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		s, err := NewSigner(allSchemes, v.Secrets)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		s.Sign(h, v.MsgID, time.Unix(v.Timestamp, 0), []byte(v.Body))
		if got := h.Get("webhook-signature"); got != v.Standard {
			t.Errorf("%s: standard\n got %s\nwant %s", v.Name, got, v.Standard)
		}
		if h.Get("webhook-id") != v.MsgID || h.Get("webhook-timestamp") != "1763805600" {
			t.Errorf("%s: webhook-id/timestamp = %q/%q", v.Name, h.Get("webhook-id"), h.Get("webhook-timestamp"))
		}
		if got := h.Get("Roost-Signature"); got != v.Timestamped {
			t.Errorf("%s: timestamped\n got %s\nwant %s", v.Name, got, v.Timestamped)
		}
		if got := h.Get("X-Hub-Signature-256"); got != v.HMAC {
			t.Errorf("%s: hmac\n got %s\nwant %s", v.Name, got, v.HMAC)
		}
	}
}

// Every secret of a rotation verifies on its own.
func TestVerifyVectorsEachSecret(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		now := time.Unix(v.Timestamp+10, 0)
		h := http.Header{}
		h.Set("webhook-id", v.MsgID)
		h.Set("webhook-timestamp", "1763805600")
		h.Set("webhook-signature", v.Standard)
		h.Set("Roost-Signature", v.Timestamped)
		h.Set("X-Hub-Signature-256", v.HMAC)
		for _, sec := range v.Secrets {
			if err := VerifyStandard(sec, h, []byte(v.Body), now, 0); err != nil {
				t.Errorf("%s: standard: %v", v.Name, err)
			}
			if err := VerifyTimestamped(sec, "Roost-Signature", h, []byte(v.Body), now, 0); err != nil {
				t.Errorf("%s: timestamped: %v", v.Name, err)
			}
			if err := VerifyHMAC(sec, "X-Hub-Signature-256", h, []byte(v.Body)); err != nil {
				t.Errorf("%s: hmac: %v", v.Name, err)
			}
			if _, err := VerifyRequest(sec, h, []byte(v.Body), now); err != nil {
				t.Errorf("%s: VerifyRequest: %v", v.Name, err)
			}
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	secret := hookd.NewEndpointSecret()
	other := hookd.NewEndpointSecret()
	body := []byte(`{"a":1}`)
	now := time.Unix(1763805600, 0)
	signer, err := NewSigner(allSchemes, []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	signed := func() http.Header {
		h := http.Header{}
		signer.Sign(h, "msg_1", now, body)
		return h
	}
	tests := []struct {
		name   string
		secret string
		mutate func(http.Header)
		body   []byte
		at     time.Time
		want   error
	}{
		{"tampered body", secret, nil, []byte(`{"a":2}`), now, ErrMismatch},
		{"wrong secret", other, nil, body, now, ErrMismatch},
		{"too old", secret, nil, body, now.Add(6 * time.Minute), ErrTimestamp},
		{"from the future", secret, nil, body, now.Add(-6 * time.Minute), ErrTimestamp},
		{"changed id", secret, func(h http.Header) { h.Set("webhook-id", "msg_2") }, body, now, ErrMismatch},
		{"changed timestamp", secret, func(h http.Header) { h.Set("webhook-timestamp", "1763805601") }, body, now, ErrMismatch},
		{"no headers", secret, func(h http.Header) {
			for k := range h {
				delete(h, k)
			}
		}, body, now, ErrNoSignature},
		{"garbage signature", secret, func(h http.Header) { h.Set("webhook-signature", "v1,!!!") }, body, now, ErrMismatch},
		{"unknown version only", secret, func(h http.Header) {
			h.Set("webhook-signature", strings.Replace(h.Get("webhook-signature"), "v1,", "v2,", 1))
		}, body, now, ErrMismatch},
		{"timestamp not a number", secret, func(h http.Header) { h.Set("webhook-timestamp", "soon") }, body, now, ErrMalformed},
	}
	for _, tt := range tests {
		h := signed()
		if tt.mutate != nil {
			tt.mutate(h)
		}
		if err := VerifyStandard(tt.secret, h, tt.body, tt.at, 0); !errors.Is(err, tt.want) {
			t.Errorf("%s: standard err = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Timestamped and hmac reject a tampered body and a wrong secret.
	h := signed()
	for _, sec := range []string{secret, other} {
		b := body
		if sec == secret {
			b = []byte(`{"a":2}`)
		}
		if err := VerifyTimestamped(sec, "Roost-Signature", h, b, now, 0); !errors.Is(err, ErrMismatch) {
			t.Errorf("timestamped: %v", err)
		}
		if err := VerifyHMAC(sec, "X-Hub-Signature-256", h, b); !errors.Is(err, ErrMismatch) {
			t.Errorf("hmac: %v", err)
		}
		if _, err := VerifyRequest(sec, h, b, now); err == nil {
			t.Errorf("VerifyRequest accepted a bad request")
		}
	}
	if err := VerifyTimestamped(secret, "Roost-Signature", h, body, now.Add(time.Hour), 0); !errors.Is(err, ErrTimestamp) {
		t.Errorf("timestamped old: %v", err)
	}
	// Errors never show the expected value.
	err = VerifyStandard(other, h, body, now, 0)
	if strings.Contains(err.Error(), h.Get("webhook-signature")[3:10]) {
		t.Errorf("error reveals a signature: %v", err)
	}
}

func TestNewSignerErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewSigner(allSchemes, nil); !errors.Is(err, ErrSecret) {
		t.Errorf("no secrets: %v", err)
	}
	if _, err := NewSigner(allSchemes, []string{"whsec_not base64!"}); !errors.Is(err, ErrSecret) {
		t.Errorf("bad standard secret: %v", err)
	}
	// Non-standard schemes accept any secret string.
	if _, err := NewSigner([]hookd.Signature{{Scheme: hookd.SchemeHMAC}}, []string{"plain secret"}); err != nil {
		t.Errorf("hmac with a plain secret: %v", err)
	}
}

func BenchmarkSign(b *testing.B) {
	s, _ := NewSigner([]hookd.Signature{{Scheme: hookd.SchemeStandard}}, []string{hookd.NewEndpointSecret()})
	body := []byte(strings.Repeat("x", 1024))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(http.Header{}, "msg_1", now, body)
	}
}

func BenchmarkVerifyStandard(b *testing.B) {
	secret := hookd.NewEndpointSecret()
	s, _ := NewSigner([]hookd.Signature{{Scheme: hookd.SchemeStandard}}, []string{secret})
	body := []byte(strings.Repeat("x", 1024))
	now := time.Now()
	h := http.Header{}
	s.Sign(h, "msg_1", now, body)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyStandard(secret, h, body, now, 0); err != nil {
			b.Fatal(err)
		}
	}
}
