package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fuzz targets feed arbitrary header values to the verifiers. Beyond not
// panicking, a request may only pass when it carries the genuine signature,
// computed here with crypto/hmac directly.

var fuzzNow = time.Unix(1763805600, 0)

func FuzzVerifierStripe(f *testing.F) {
	f.Add("t=1763805600,v1=00,v0=11", []byte(`{}`))
	f.Add("t=1763805600,v1="+strings.Repeat("ab", 32), []byte(""))
	f.Add(",,t=,v1=,=,t=1,t=2", []byte("x"))
	f.Add("t=99999999999999999999,v1=", []byte("x"))
	f.Add(" t = 1763805600 , v1 = 00 ", []byte("x"))
	const secret = "whsec_stripe"
	v := mustVerifierF(f, VerifierConfig{Type: TypeStripe, Secrets: []string{secret}})
	f.Fuzz(func(t *testing.T, value string, body []byte) {
		h := http.Header{"Stripe-Signature": {value}}
		err := v.Verify(&Request{Header: h, Body: body, Now: fuzzNow})
		if err == nil {
			ts, _, _ := ParseTimestamped(value)
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(ts + "."))
			m.Write(body)
			if !strings.Contains(strings.ToLower(value), hex.EncodeToString(m.Sum(nil))) {
				t.Fatalf("accepted %q without the genuine signature", value)
			}
		}
		checkFuzzError(t, err, secret)
	})
}

func FuzzVerifierStandard(f *testing.F) {
	f.Add("msg_1", "1763805600", "v1,abc", []byte(`{}`))
	f.Add("", "", "v1,", []byte(""))
	f.Add("a", "1763805600", "v1,a v1,b v2,c  v1", []byte("x"))
	f.Add("a", "-1", "v1,"+strings.Repeat("A", 44), []byte("x"))
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, _ := StandardKey(secret)
	v := mustVerifierF(f, VerifierConfig{Type: TypeStandard, Secrets: []string{secret}})
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte) {
		for _, names := range [][3]string{{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}, {"Svix-Id", "Svix-Timestamp", "Svix-Signature"}} {
			h := http.Header{names[0]: {id}, names[1]: {ts}, names[2]: {sigs}}
			err := v.Verify(&Request{Header: h, Body: body, Now: fuzzNow})
			if err == nil {
				m := hmac.New(sha256.New, key)
				m.Write([]byte(id + "." + ts + "."))
				m.Write(body)
				if !strings.Contains(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil))) {
					t.Fatalf("accepted %q without the genuine signature", sigs)
				}
			}
			checkFuzzError(t, err, secret)
		}
	})
}

// fuzzHMACConfigs are the hmac-family shapes: the provider presets and the
// generic verifier's algorithms, encodings, prefixes and timestamp.
var fuzzHMACConfigs = []VerifierConfig{
	{Type: TypeGitHub, Secrets: []string{"fuzz-secret"}},
	{Type: TypeBitbucket, Secrets: []string{"fuzz-secret"}},
	{Type: TypeShopify, Secrets: []string{"fuzz-secret"}},
	{Type: TypeSlack, Secrets: []string{"fuzz-secret"}},
	{Type: TypeHMAC, Secrets: []string{"fuzz-secret"}, Header: "X-Sig", Algorithm: "sha1", Prefix: "sha1="},
	{Type: TypeHMAC, Secrets: []string{"fuzz-secret"}, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64"},
	{Type: TypeHMAC, Secrets: []string{"fuzz-secret"}, Header: "X-Sig", TimestampHeader: "X-Time"},
}

func FuzzVerifierHMAC(f *testing.F) {
	f.Add(uint8(0), "sha256=00", "", []byte(`{}`))
	f.Add(uint8(2), "!!!,,==", "", []byte(""))
	f.Add(uint8(3), "v0=zz", "1763805600", []byte("x"))
	f.Add(uint8(4), "SHA1=,sha1=0000000000000000000000000000000000000000", "", []byte("x"))
	f.Add(uint8(5), strings.Repeat("A", 88), "", []byte("x"))
	f.Add(uint8(6), strings.Repeat("0", 64), "17638056000", []byte("x"))
	var verifiers []Verifier
	for _, cfg := range fuzzHMACConfigs {
		verifiers = append(verifiers, mustVerifierF(f, cfg))
	}
	f.Fuzz(func(t *testing.T, which uint8, value, ts string, body []byte) {
		i := int(which) % len(fuzzHMACConfigs)
		cfg := fuzzHMACConfigs[i]
		p, _ := resolve(cfg)
		h := http.Header{p.header: {value}}
		if p.tsHeader != "" {
			h.Set(p.tsHeader, ts)
		}
		err := verifiers[i].Verify(&Request{Header: h, Body: body, Now: fuzzNow})
		if err == nil {
			// Only the genuine signature, in some accepted spelling, passes.
			want := newHMACVerifier(p, cfg.Secrets, 0).sum(0, ts, body)
			got, _ := newHMACVerifier(p, cfg.Secrets, 0).parse([]string{value})
			if anyEqual(got, want) != nil {
				t.Fatalf("%s: accepted %q", cfg.Type, value)
			}
		}
		checkFuzzError(t, err, cfg.Secrets[0])
	})
}

func FuzzVerifierBasic(f *testing.F) {
	f.Add("Basic dTpwdw==")
	f.Add("Basic ")
	f.Add("basic OnB3")
	f.Add("Bearer x")
	v := mustVerifierF(f, VerifierConfig{Type: TypeBasic, Username: "u", Secrets: []string{"pw"}})
	f.Fuzz(func(t *testing.T, auth string) {
		h := http.Header{"Authorization": {auth}}
		err := v.Verify(&Request{Header: h})
		if err == nil {
			user, pass, _ := (&http.Request{Header: h}).BasicAuth()
			if user != "u" || pass != "pw" {
				t.Fatalf("accepted %q", auth)
			}
		}
		checkFuzzError(t, err, "pw")
	})
}

func FuzzAPIKeyFrom(f *testing.F) {
	f.Add("Bearer hk_1", "", "api_key=x")
	f.Add("bearer", "  ", "API_KEY=&st2-api-key=y")
	f.Add("", "", "%zz&x-auth-token")
	f.Fuzz(func(t *testing.T, auth, xkey, rawQuery string) {
		h := http.Header{"Authorization": {auth}, "X-Api-Key": {xkey}}
		q, _ := url.ParseQuery(rawQuery)
		key, ok := APIKeyFrom(h, q)
		if ok != (key != "") || key != strings.TrimSpace(key) {
			t.Fatalf("APIKeyFrom = %q, %v", key, ok)
		}
		if !ok {
			return
		}
		sources := []string{auth, xkey}
		for _, vals := range q {
			sources = append(sources, vals...)
		}
		if !slices.ContainsFunc(sources, func(s string) bool { return strings.Contains(s, key) }) {
			t.Fatalf("key %q comes from nowhere", key)
		}
	})
}

func mustVerifierF(f *testing.F, cfg VerifierConfig) Verifier {
	f.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// checkFuzzError checks that a failure is a *VerifyError that does not show
// the secret.
func checkFuzzError(t *testing.T, err error, secret string) {
	t.Helper()
	if err == nil {
		return
	}
	ve, ok := err.(*VerifyError)
	if !ok || ve.Check == "" || ve.Err == nil {
		t.Fatalf("error %v (%T) is not a complete *VerifyError", err, err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error %q shows the secret", err)
	}
}
