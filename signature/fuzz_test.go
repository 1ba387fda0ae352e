package signature

import (
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

const fuzzSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Arbitrary header values must never panic, and a signature computed over
// one body must never verify another.
func FuzzVerifyStandard(f *testing.F) {
	f.Add("msg_1", "1763805600", "v1,abc", []byte("{}"))
	f.Add("", "", "v1,", []byte(""))
	f.Add("a", "99999999999999999999", "v1,a v1,b v2,c", []byte("x"))
	now := time.Unix(1763805600, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		_ = VerifyStandard(fuzzSecret, h, body, now, 0)

		// A genuine signature for body must not verify body+"x".
		s, _ := NewSigner([]hookd.Signature{{Scheme: hookd.SchemeStandard}}, []string{fuzzSecret})
		g := http.Header{}
		s.Sign(g, id, now, body)
		if err := VerifyStandard(fuzzSecret, g, append(append([]byte{}, body...), 'x'), now, 0); err == nil {
			t.Fatal("forged body accepted")
		}
	})
}

func FuzzParseTimestamped(f *testing.F) {
	f.Add("t=1763805600,v1=00")
	f.Add(",,,=,t=,v1=")
	f.Fuzz(func(t *testing.T, v string) {
		_, _, _ = ParseTimestamped(v)
		h := http.Header{}
		h.Set("Hookd-Signature", v)
		_ = VerifyTimestamped("s", "", h, []byte("body"), time.Unix(1763805600, 0), 0)
	})
}

func FuzzParseHMAC(f *testing.F) {
	f.Add("sha256=00")
	f.Add("sha256=,sha256=zz,")
	f.Fuzz(func(t *testing.T, v string) {
		_, _ = ParseHMAC(v)
		h := http.Header{}
		h.Set("X-Hookd-Signature-256", v)
		if VerifyHMAC("s", "", h, []byte(v)) == nil {
			// Only possible if v holds the true HMAC of itself: a forgery.
			t.Fatalf("accepted %q", v)
		}
	})
}
