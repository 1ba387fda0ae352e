package signature

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd"
)

// The official Standard Webhooks library verifies hookd's signatures
// unchanged, for the current secret and for each secret during rotation.
func TestOfficialLibraryVerifies(t *testing.T) {
	t.Parallel()
	current, previous := hookd.NewEndpointSecret(), hookd.NewEndpointSecret()
	body := []byte(`{"id":"evt_1","type":"a.b","timestamp":"2026-11-22T10:00:00Z","data":{"x": [1, 2.50]}}`)
	s, err := NewSigner([]hookd.Signature{{Scheme: hookd.SchemeStandard}}, []string{current, previous})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	s.Sign(h, "msg_official", time.Now(), body)
	for _, sec := range []string{current, previous} {
		wh, err := standardwebhooks.NewWebhook(sec)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("official library: %v", err)
		}
		if err := wh.Verify(append(body, ' '), h); err == nil {
			t.Fatal("official library accepted a changed body")
		}
	}
	other, _ := standardwebhooks.NewWebhook(hookd.NewEndpointSecret())
	if err := other.Verify(body, h); err == nil {
		t.Fatal("official library accepted a signature under another secret")
	}

	// And hookd verifies what the official library signs.
	wh, _ := standardwebhooks.NewWebhook(current)
	ts := time.Now()
	sig, err := wh.Sign("msg_x", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	g := http.Header{}
	g.Set("webhook-id", "msg_x")
	g.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	g.Set("webhook-signature", sig)
	if err := VerifyStandard(current, g, body, ts, 0); err != nil {
		t.Fatalf("hookd rejects the official library's signature: %v", err)
	}
}
