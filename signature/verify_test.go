package signature

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// verifyVector is one case of testdata/verify/vectors.json. The expected
// headers there were computed with openssl by testdata/verify/vectors.sh, not
// by this package; three are the providers' own published examples.
type verifyVector struct {
	Name   string `json:"name"`
	Config struct {
		Type            string   `json:"type"`
		Secrets         []string `json:"secrets"`
		Header          string   `json:"header"`
		Algorithm       string   `json:"algorithm"`
		Encoding        string   `json:"encoding"`
		Prefix          string   `json:"prefix"`
		TimestampHeader string   `json:"timestamp_header"`
		Tolerance       string   `json:"tolerance"`
		Username        string   `json:"username"`
	} `json:"config"`
	Now     int64             `json:"now"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func (v verifyVector) config(t *testing.T) VerifierConfig {
	t.Helper()
	c := v.Config
	cfg := VerifierConfig{
		Type: c.Type, Secrets: slices.Clone(c.Secrets), Header: c.Header, Algorithm: c.Algorithm,
		Encoding: c.Encoding, Prefix: c.Prefix, TimestampHeader: c.TimestampHeader, Username: c.Username,
	}
	if c.Tolerance != "" {
		d, err := time.ParseDuration(c.Tolerance)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Tolerance = d
	}
	return cfg
}

func (v verifyVector) request() *Request {
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	return &Request{Header: h, Body: []byte(v.Body), Now: time.Unix(v.Now, 0)}
}

func loadVerifyVectors(t *testing.T) []verifyVector {
	t.Helper()
	b, err := os.ReadFile("testdata/verify/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []verifyVector }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 15 {
		t.Fatalf("only %d vectors", len(doc.Cases))
	}
	return doc.Cases
}

// otherSecret returns a valid secret for typ that is not the configured one.
func otherSecret(typ string) string {
	if typ == TypeStandard {
		return "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="
	}
	return "not-the-secret"
}

// signsBody reports whether a type's check covers the body.
func signsBody(typ string) bool {
	return !slices.Contains([]string{TypeGitLab, TypeToken, TypeBasic, TypeAPIKey, TypeNone}, typ)
}

func mustVerifier(t *testing.T, cfg VerifierConfig) Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier(%v): %v", cfg, err)
	}
	return v
}

// sensitive returns what no error may contain: the secrets and every
// signature or token the request carries (without prefixes).
func sensitive(cfg VerifierConfig, h http.Header) []string {
	out := slices.Clone(cfg.Secrets)
	for _, name := range cfg.SignatureHeaders() {
		for _, val := range h.Values(name) {
			for _, part := range strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == ' ' || r == '=' }) {
				if len(part) >= 12 {
					out = append(out, part)
				}
			}
		}
	}
	return out
}

func checkNoLeak(t *testing.T, name string, err error, secrets []string) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Check == "" || ve.Reason == "" {
		t.Errorf("%s: error %v (%T) is not a complete *VerifyError", name, err, err)
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q reveals %q", name, err, s)
		}
	}
}

func TestVerifyVectors(t *testing.T) {
	t.Parallel()
	for _, vec := range loadVerifyVectors(t) {
		t.Run(vec.Name, func(t *testing.T) {
			t.Parallel()
			cfg := vec.config(t)
			other := otherSecret(cfg.Type)
			wrongCfg := cfg
			wrongCfg.Secrets = []string{other}
			// What the wrong secret would have expected: must not leak either.
			leaks := sensitive(cfg, vec.request().Header)
			if h, err := SignRequest(wrongCfg, []byte(vec.Body), time.Unix(vec.Now, 0)); err == nil {
				leaks = append(append(leaks, other), sensitive(wrongCfg, h)...)
			}

			if err := mustVerifier(t, cfg).Verify(vec.request()); err != nil {
				t.Fatalf("valid request: %v", err)
			}
			for _, secrets := range [][]string{{other, cfg.Secrets[0]}, {cfg.Secrets[0], other}} {
				rot := cfg
				rot.Secrets = secrets
				if err := mustVerifier(t, rot).Verify(vec.request()); err != nil {
					t.Errorf("rotation %d secrets: %v", len(secrets), err)
				}
			}

			err := mustVerifier(t, wrongCfg).Verify(vec.request())
			if !errors.Is(err, ErrMismatch) {
				t.Errorf("wrong secret: err = %v, want ErrMismatch", err)
			}
			checkNoLeak(t, "wrong secret", err, leaks)

			if signsBody(cfg.Type) {
				for _, body := range []string{vec.Body + " ", strings.Replace(vec.Body, "e", "E", 1), ""} {
					r := vec.request()
					r.Body = []byte(body)
					err := mustVerifier(t, cfg).Verify(r)
					if !errors.Is(err, ErrMismatch) {
						t.Errorf("tampered body %q: err = %v, want ErrMismatch", body, err)
					}
					checkNoLeak(t, "tampered body", err, leaks)
				}
			}

			r := vec.request()
			for _, name := range cfg.SignatureHeaders() {
				r.Header.Del(name)
			}
			err = mustVerifier(t, cfg).Verify(r)
			if !errors.Is(err, ErrNoSignature) {
				t.Errorf("missing header: err = %v, want ErrNoSignature", err)
			}
			checkNoLeak(t, "missing header", err, leaks)
		})
	}
}

// SignRequest must reproduce the independent vectors.
func TestSignRequestMatchesVectors(t *testing.T) {
	t.Parallel()
	for _, vec := range loadVerifyVectors(t) {
		cfg := vec.config(t)
		h, err := SignRequest(cfg, []byte(vec.Body), signedAt(t, vec))
		if err != nil {
			t.Fatalf("%s: %v", vec.Name, err)
		}
		want := vec.request().Header
		for _, name := range cfg.SignatureHeaders() {
			got := h.Get(name)
			switch cfg.Type {
			case TypeStandard: // a new webhook-id each time: checked by the round trip
				continue
			case TypeStripe: // the vector carries extra entries around the genuine one
				_, v1, _ := strings.Cut(got, ",")
				if !strings.Contains(want.Get(name), v1) {
					t.Errorf("%s: signed %s, vector %s", vec.Name, got, want.Get(name))
				}
			default:
				if got != want.Get(name) {
					t.Errorf("%s: %s\n got %s\nwant %s", vec.Name, name, got, want.Get(name))
				}
			}
		}
	}
}

// signedAt returns the time a vector was signed at: its timestamp, if it
// has one, else its now.
func signedAt(t *testing.T, vec verifyVector) time.Time {
	t.Helper()
	h := vec.request().Header
	ts := h.Get(cmp.Or(vec.Config.TimestampHeader, "X-Slack-Request-Timestamp"))
	if v := h.Get("Stripe-Signature"); v != "" {
		ts, _, _ = ParseTimestamped(v)
	}
	if ts == "" {
		return time.Unix(vec.Now, 0)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(sec, 0)
}

// signable is one configuration of every type that can sign, with header
// overrides where a type takes them.
var signable = []VerifierConfig{
	{Type: TypeGitHub, Secrets: []string{"s1"}},
	{Type: TypeGitHub, Secrets: []string{"s1"}, Header: "X-Owlette-Signature"},
	{Type: TypeBitbucket, Secrets: []string{"s1"}},
	{Type: TypeShopify, Secrets: []string{"s1"}},
	{Type: TypeSlack, Secrets: []string{"s1"}},
	{Type: TypeStripe, Secrets: []string{"s1"}},
	{Type: TypeStripe, Secrets: []string{"s1"}, Header: "Roost-Signature"},
	{Type: TypeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
	{Type: TypeHMAC, Secrets: []string{"s1"}, Header: "X-Sig", Algorithm: "SHA512", Encoding: "base64", Prefix: "v1="},
	{Type: TypeHMAC, Secrets: []string{"s1"}, Header: "X-Sig", Algorithm: "sha1", TimestampHeader: "X-Sig-Time", Tolerance: time.Minute},
	{Type: TypeGitLab, Secrets: []string{"s1"}},
	{Type: TypeToken, Secrets: []string{"s1"}, Header: "Authorization"},
	{Type: TypeBasic, Secrets: []string{"s1"}, Username: "u"},
	{Type: TypeNone},
}

func TestSignRequestRoundTrip(t *testing.T) {
	t.Parallel()
	body := []byte(`{"hello":"world"}`)
	now := time.Unix(1763805600, 0)
	for _, cfg := range signable {
		h, err := SignRequest(cfg, body, now)
		if err != nil {
			t.Fatalf("%v: %v", cfg, err)
		}
		v := mustVerifier(t, cfg)
		if err := v.Verify(&Request{Header: h, Body: body, Now: now.Add(30 * time.Second)}); err != nil {
			t.Errorf("%v (%v): %v", cfg, h, err)
		}
		if signsBody(cfg.Type) {
			if err := v.Verify(&Request{Header: h, Body: []byte(`{"hello":"World"}`), Now: now}); !errors.Is(err, ErrMismatch) {
				t.Errorf("%v: changed body: %v", cfg, err)
			}
		}
	}
	if _, err := SignRequest(VerifierConfig{Type: TypeAPIKey}, body, now); hookd.ErrorCode(err) != hookd.EINVALID {
		t.Errorf("apikey signs: %v", err)
	}
}

// hookd's own outbound schemes verify with the generic inbound verifiers,
// including every secret's signature during rotation.
func TestVerifiesHookdOutbound(t *testing.T) {
	t.Parallel()
	secrets := []string{hookd.NewEndpointSecret(), hookd.NewEndpointSecret()}
	s, err := NewSigner([]hookd.Signature{
		{Scheme: hookd.SchemeStandard},
		{Scheme: hookd.SchemeTimestamped, Header: hookd.DefaultTimestampedHeader},
		{Scheme: hookd.SchemeHMAC, Header: hookd.DefaultHMACHeader},
	}, secrets)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1763805600, 0)
	h := http.Header{}
	s.Sign(h, "msg_1", now, body)
	for _, sec := range secrets {
		for _, cfg := range []VerifierConfig{
			{Type: TypeStandard, Secrets: []string{sec}},
			{Type: TypeStripe, Secrets: []string{sec}, Header: hookd.DefaultTimestampedHeader},
			{Type: TypeGitHub, Secrets: []string{sec}, Header: hookd.DefaultHMACHeader},
		} {
			if err := mustVerifier(t, cfg).Verify(&Request{Header: h, Body: body, Now: now}); err != nil {
				t.Errorf("%s: %v", cfg.Type, err)
			}
		}
	}
}

func TestVerifyTimestamps(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	t0 := time.Unix(1763805600, 0)
	for _, cfg := range []VerifierConfig{
		{Type: TypeSlack, Secrets: []string{"s"}},
		{Type: TypeStripe, Secrets: []string{"s"}},
		{Type: TypeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X-Sig", TimestampHeader: "X-Time"},
		{Type: TypeStripe, Secrets: []string{"s"}, Tolerance: 30 * time.Second},
		{Type: TypeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Tolerance: time.Hour},
	} {
		tol := cmp.Or(cfg.Tolerance, DefaultTolerance)
		v := mustVerifier(t, cfg)
		h, err := SignRequest(cfg, body, t0)
		if err != nil {
			t.Fatal(err)
		}
		tsHeader := map[string]string{TypeSlack: "X-Slack-Request-Timestamp", TypeStandard: "Webhook-Timestamp", TypeHMAC: "X-Time"}[cfg.Type]
		type tsCase struct {
			name   string
			now    time.Time
			mutate func(http.Header)
			want   error
			reason string
		}
		tests := []tsCase{
			{"now", t0, nil, nil, ""},
			{"at the tolerance", t0.Add(tol), nil, nil, ""},
			{"at the future tolerance", t0.Add(-tol), nil, nil, ""},
			{"too old", t0.Add(tol + time.Second), nil, ErrTimestamp, "too old"},
			{"in the future", t0.Add(-tol - time.Second), nil, ErrTimestamp, "in the future"},
			{"far future", t0.Add(-1000000 * time.Hour), nil, ErrTimestamp, "in the future"},
		}
		if tsHeader != "" {
			set := func(v string) func(http.Header) { return func(h http.Header) { h.Set(tsHeader, v) } }
			tests = append(tests,
				tsCase{"timestamp changed within tolerance", t0, set(fmt.Sprint(t0.Unix() + 1)), ErrMismatch, ""},
				tsCase{"timestamp missing", t0, func(h http.Header) { h.Del(tsHeader) }, ErrMalformed, "missing"},
				tsCase{"timestamp not a number", t0, set("1763805600.5"), ErrMalformed, "Unix seconds"},
				tsCase{"timestamp overflows", t0, set("99999999999999999999"), ErrMalformed, "Unix seconds"},
				tsCase{"timestamp far past", t0, set("-9223372036854775808"), ErrTimestamp, "too old"},
			)
		}
		for _, tt := range tests {
			r := &Request{Header: h.Clone(), Body: body, Now: tt.now}
			if tt.mutate != nil {
				tt.mutate(r.Header)
			}
			err := v.Verify(r)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("%s tolerance %s: %s: err = %v, want %v", cfg.Type, tol, tt.name, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("%s: %s: %q does not say %q", cfg.Type, tt.name, err, tt.reason)
			}
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	now := time.Unix(1763805600, 0)
	const gh = "X-Hub-Signature-256"
	sign := func(cfg VerifierConfig) http.Header {
		h, err := SignRequest(cfg, body, now)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	github := VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}}
	good := sign(github).Get(gh)
	goodHex := strings.TrimPrefix(good, "sha256=")
	stripe := VerifierConfig{Type: TypeStripe, Secrets: []string{"s"}}
	stripeSig := sign(stripe).Get("Stripe-Signature")
	std := VerifierConfig{Type: TypeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	basic := VerifierConfig{Type: TypeBasic, Secrets: []string{"pw"}, Username: "u"}
	shopify := VerifierConfig{Type: TypeShopify, Secrets: []string{"s"}}
	slack := VerifierConfig{Type: TypeSlack, Secrets: []string{"s"}}
	hmacB64 := VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X-Sig", Encoding: "base64"}

	tests := []struct {
		name string
		cfg  VerifierConfig
		set  map[string]string // headers set on a genuinely signed request
		want error
	}{
		{"hex not hex", github, map[string]string{gh: "sha256=zz" + goodHex[2:]}, ErrMalformed},
		{"short hex", github, map[string]string{gh: good[:len(good)-2]}, ErrMalformed},
		{"no prefix", github, map[string]string{gh: goodHex}, ErrMalformed},
		{"other algorithm prefix", github, map[string]string{gh: "sha1=" + goodHex[:40]}, ErrMalformed},
		{"wrong prefix of the same length", github, map[string]string{gh: "sha512=" + goodHex}, ErrMalformed},
		{"prefix only", github, map[string]string{gh: "sha256="}, ErrMalformed},
		{"separators only", github, map[string]string{gh: " , ,"}, ErrNoSignature},
		{"upper-case prefix and hex", github, map[string]string{gh: strings.ToUpper(good)}, nil},
		{"list with one genuine", github, map[string]string{gh: "sha256=" + strings.Repeat("0", 64) + ", " + good}, nil},
		{"list without genuine", github, map[string]string{gh: "sha256=" + strings.Repeat("0", 64) + ",sha256=zz"}, ErrMismatch},
		{"shopify not base64", shopify, map[string]string{"X-Shopify-Hmac-Sha256": "!!!!"}, ErrMalformed},
		{"shopify hex instead of base64", shopify, map[string]string{"X-Shopify-Hmac-Sha256": goodHex}, ErrMalformed},
		{"slack without v0=", slack, map[string]string{"X-Slack-Signature": goodHex}, ErrMalformed},
		{"hmac base64url unpadded", hmacB64, map[string]string{"X-Sig": strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(sign(hmacB64).Get("X-Sig"))}, nil},
		{"stripe garbage", stripe, map[string]string{"Stripe-Signature": "garbage"}, ErrMalformed},
		{"stripe no v1", stripe, map[string]string{"Stripe-Signature": "t=1763805600"}, ErrMalformed},
		{"stripe no t", stripe, map[string]string{"Stripe-Signature": strings.SplitN(stripeSig, ",", 2)[1]}, ErrMalformed},
		{"stripe genuine signature as v0 only", stripe, map[string]string{"Stripe-Signature": strings.Replace(stripeSig, "v1=", "v0=", 1)}, ErrMalformed},
		{"stripe t not a number", stripe, map[string]string{"Stripe-Signature": strings.Replace(stripeSig, "t=1763805600", "t=soon", 1)}, ErrMalformed},
		{"stripe spaces", stripe, map[string]string{"Stripe-Signature": strings.ReplaceAll(stripeSig, ",", ", ")}, nil},
		{"standard v2 only", std, map[string]string{"Webhook-Signature": "v2,abc"}, ErrMalformed},
		{"standard no id", std, map[string]string{"Webhook-Id": ""}, ErrMalformed},
		{"standard base64 garbage", std, map[string]string{"Webhook-Signature": "v1,!!!"}, ErrMismatch},
		{"basic bearer", basic, map[string]string{"Authorization": "Bearer x"}, ErrMalformed},
		{"basic not base64", basic, map[string]string{"Authorization": "Basic !!!"}, ErrMalformed},
		{"basic no colon", basic, map[string]string{"Authorization": "Basic dXB3"}, ErrMalformed},
		{"basic wrong user", basic, map[string]string{"Authorization": "Basic dng6cHc="}, ErrMismatch}, // v:pw
		{"basic right", basic, map[string]string{"Authorization": "Basic dTpwdw=="}, nil},              // u:pw
	}
	for _, tt := range tests {
		h := sign(tt.cfg)
		for k, v := range tt.set {
			if v == "" {
				h.Del(k)
			} else {
				h.Set(k, v)
			}
		}
		err := mustVerifier(t, tt.cfg).Verify(&Request{Header: h, Body: body, Now: now})
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	t.Parallel()
	s := []string{"secret-value"}
	tests := []struct {
		cfg  VerifierConfig
		want string
	}{
		{VerifierConfig{}, "type is required"},
		{VerifierConfig{Type: "GitHub", Secrets: s}, `type "GitHub" is unknown`},
		{VerifierConfig{Type: TypeGitHub}, "secrets"},
		{VerifierConfig{Type: TypeGitHub, Secrets: []string{"a", ""}}, "secrets[1] is empty"},
		{VerifierConfig{Type: TypeNone, Secrets: s}, "takes no secrets"},
		{VerifierConfig{Type: TypeAPIKey, Secrets: s}, "takes no secrets"},
		{VerifierConfig{Type: TypeStandard, Secrets: []string{"whsec_secret-value!"}}, "secrets[0] is not a Standard Webhooks secret"},
		{VerifierConfig{Type: TypeGitHub, Secrets: s, Algorithm: "sha1"}, "takes no algorithm"},
		{VerifierConfig{Type: TypeGitHub, Secrets: s, Tolerance: time.Minute}, "takes no tolerance"},
		{VerifierConfig{Type: TypeStandard, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Header: "X"}, "takes no header"},
		{VerifierConfig{Type: TypeSlack, Secrets: s, Prefix: "v1="}, "takes no prefix"},
		{VerifierConfig{Type: TypeToken, Secrets: s, Username: "u"}, "takes no username"},
		{VerifierConfig{Type: TypeStripe, Secrets: s, TimestampHeader: "X-T"}, "takes no timestamp_header"},
		{VerifierConfig{Type: TypeHMAC, Secrets: s}, "needs a header"},
		{VerifierConfig{Type: TypeToken, Secrets: s}, "needs a header"},
		{VerifierConfig{Type: TypeHMAC, Secrets: s, Header: "X Sig"}, "header \"X Sig\" is not a valid header name"},
		{VerifierConfig{Type: TypeHMAC, Secrets: s, Header: "X-Sig", TimestampHeader: "X:T"}, "timestamp_header"},
		{VerifierConfig{Type: TypeHMAC, Secrets: s, Header: "X-Sig", Algorithm: "md5"}, `algorithm "md5" is unknown`},
		{VerifierConfig{Type: TypeHMAC, Secrets: s, Header: "X-Sig", Encoding: "base32"}, `encoding "base32" is unknown`},
		{VerifierConfig{Type: TypeHMAC, Secrets: s, Header: "X-Sig", Tolerance: time.Minute}, "tolerance needs a timestamp_header"},
		{VerifierConfig{Type: TypeStripe, Secrets: s, Tolerance: -time.Second}, "tolerance must not be negative"},
		{VerifierConfig{Type: TypeBasic, Secrets: s}, "username"},
		{VerifierConfig{Type: TypeBasic, Secrets: s, Username: "a:b"}, "username without a colon"},
	}
	for _, tt := range tests {
		_, err := NewVerifier(tt.cfg)
		if hookd.ErrorCode(err) != hookd.EINVALID || !strings.Contains(hookd.ErrorMessage(err), tt.want) {
			t.Errorf("%#v: err = %v, want EINVALID containing %q", tt.cfg, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "secret-value") {
			t.Errorf("%#v: error shows the secret: %v", tt.cfg, err)
		}
		if _, serr := SignRequest(tt.cfg, nil, time.Now()); hookd.ErrorCode(serr) != hookd.EINVALID {
			t.Errorf("%#v: SignRequest err = %v, want EINVALID", tt.cfg, serr)
		}
	}
}

func TestVerifierConfigPrintsNoSecrets(t *testing.T) {
	t.Parallel()
	cfg := VerifierConfig{Type: TypeBasic, Secrets: []string{"hunter2-secret"}, Username: "u"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, cfg); strings.Contains(got, "hunter2") {
			t.Errorf("%s shows the secret: %s", format, got)
		}
	}
}

func TestNoneAndAPIKeyVerifiers(t *testing.T) {
	t.Parallel()
	none := mustVerifier(t, VerifierConfig{Type: TypeNone})
	if err := none.Verify(&Request{Header: http.Header{}}); err != nil {
		t.Errorf("none: %v", err)
	}
	// apikey fails closed: the inbound layer checks hookd's keys itself.
	apikey := mustVerifier(t, VerifierConfig{Type: TypeAPIKey})
	if err := apikey.Verify(&Request{Header: http.Header{}}); !errors.Is(err, ErrNoSignature) {
		t.Errorf("apikey without key: %v", err)
	}
	h := http.Header{"X-Api-Key": {"hk_live"}}
	if err := apikey.Verify(&Request{Header: h}); err == nil || strings.Contains(err.Error(), "hk_live") {
		t.Errorf("apikey with key: %v", err)
	}
}

func TestAPIKeyFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header map[string]string
		query  string
		want   string
	}{
		{"bearer", map[string]string{"Authorization": "Bearer hk_1"}, "", "hk_1"},
		{"bearer lower case, spaces", map[string]string{"Authorization": "  bearer   hk_1 "}, "", "hk_1"},
		{"basic is not a key", map[string]string{"Authorization": "Basic dTpw"}, "", ""},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, "", ""},
		{"x-api-key", map[string]string{"x-api-key": "hk_2"}, "", "hk_2"},
		{"st2-api-key", map[string]string{"St2-Api-Key": "hk_3"}, "", "hk_3"},
		{"x-auth-token", map[string]string{"X-Auth-Token": "hk_4"}, "", "hk_4"},
		{"bearer wins", map[string]string{"Authorization": "Bearer hk_1", "X-Api-Key": "hk_2"}, "api_key=hk_5", "hk_1"},
		{"header before query", map[string]string{"St2-Api-Key": "hk_3"}, "api_key=hk_5", "hk_3"},
		{"api_key", nil, "api_key=hk_5", "hk_5"},
		{"st2-api-key", nil, "st2-api-key=hk_6", "hk_6"},
		{"x-auth-token", nil, "x-auth-token=hk_7", "hk_7"},
		{"case-insensitive name", nil, "ST2-API-KEY=hk_8", "hk_8"},
		{"empty then set", nil, "api_key=&api_key=hk_9", "hk_9"},
		{"several spellings", nil, "api_key=hk_a&API_KEY=hk_b&Api_Key=hk_c", "hk_b"},
		{"order of parameters", nil, "x-auth-token=hk_7&api_key=hk_5", "hk_5"},
		{"unrelated", map[string]string{"X-Token": "x"}, "token=x", ""},
		{"nothing", nil, "", ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := APIKeyFrom(h, q)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: got %q, %v, want %q", tt.name, got, ok, tt.want)
		}
	}
}

func TestSignatureHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  VerifierConfig
		want []string
	}{
		{VerifierConfig{Type: TypeGitHub}, []string{"X-Hub-Signature-256"}},
		{VerifierConfig{Type: TypeGitHub, Header: "x-owlette-signature"}, []string{"X-Owlette-Signature"}},
		{VerifierConfig{Type: TypeGitLab}, []string{"X-Gitlab-Token"}},
		{VerifierConfig{Type: TypeBitbucket}, []string{"X-Hub-Signature"}},
		{VerifierConfig{Type: TypeStripe}, []string{"Stripe-Signature"}},
		{VerifierConfig{Type: TypeSlack}, []string{"X-Slack-Signature"}},
		{VerifierConfig{Type: TypeShopify}, []string{"X-Shopify-Hmac-Sha256"}},
		{VerifierConfig{Type: TypeStandard}, []string{"Webhook-Signature", "Svix-Signature"}},
		{VerifierConfig{Type: TypeHMAC}, nil},
		{VerifierConfig{Type: TypeHMAC, Header: "X-Sig"}, []string{"X-Sig"}},
		{VerifierConfig{Type: TypeToken, Header: "X-Token"}, []string{"X-Token"}},
		{VerifierConfig{Type: TypeBasic}, []string{"Authorization"}},
		{VerifierConfig{Type: TypeAPIKey}, []string{"Authorization", "X-Api-Key", "St2-Api-Key", "X-Auth-Token"}},
		{VerifierConfig{Type: TypeNone}, nil},
		{VerifierConfig{Type: "unknown"}, nil},
	}
	for _, tt := range tests {
		if got := tt.cfg.SignatureHeaders(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.cfg.Type, got, tt.want)
		}
	}
	if got := APIKeyParams(); !slices.Equal(got, []string{"api_key", "st2-api-key", "x-auth-token"}) {
		t.Errorf("APIKeyParams = %v", got)
	}
}

func BenchmarkVerifyGitHub(b *testing.B) {
	cfg := VerifierConfig{Type: TypeGitHub, Secrets: []string{"old", "new"}}
	body := []byte(strings.Repeat("x", 4096))
	h, _ := SignRequest(VerifierConfig{Type: TypeGitHub, Secrets: []string{"new"}}, body, time.Now())
	v, _ := NewVerifier(cfg)
	r := &Request{Header: h, Body: body}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
