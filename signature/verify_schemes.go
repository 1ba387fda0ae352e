package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	_ Verifier = (*hmacVerifier)(nil)
	_ Verifier = (*stripeVerifier)(nil)
	_ Verifier = (*standardVerifier)(nil)
	_ Verifier = (*tokenVerifier)(nil)
	_ Verifier = (*basicVerifier)(nil)
	_ Verifier = apiKeyVerifier{}
	_ Verifier = noneVerifier{}
)

// Reasons shared by the verifiers.
const (
	reasonMissing  = "missing"
	reasonMismatch = "does not match"
)

// hmacVerifier checks one header holding prefix + encoded HMAC, of the body
// or, with a timestamp header, of tsPrefix + timestamp + tsSep + body. The
// header may hold several comma-separated signatures (hookd's own hmac
// scheme does during rotation); one matching any secret passes.
type hmacVerifier struct {
	header, prefix, encoding  string
	tsHeader, tsPrefix, tsSep string
	tolerance                 time.Duration
	newHash                   func() hash.Hash
	size                      int
	keys                      [][]byte
}

func newHMACVerifier(p preset, secrets []string, tolerance time.Duration) *hmacVerifier {
	v := &hmacVerifier{
		header: p.header, prefix: p.prefix, encoding: p.encoding,
		tsHeader: p.tsHeader, tsPrefix: p.tsPrefix, tsSep: p.tsSep,
		tolerance: tolerance, newHash: hashes[p.algorithm],
	}
	v.size = v.newHash().Size()
	for _, s := range secrets {
		v.keys = append(v.keys, []byte(s))
	}
	return v
}

// sum returns the HMAC under key i of what the verifier signs.
func (v *hmacVerifier) sum(i int, ts string, body []byte) []byte {
	m := hmac.New(v.newHash, v.keys[i])
	if v.tsHeader != "" {
		m.Write([]byte(v.tsPrefix))
		m.Write([]byte(ts))
		m.Write([]byte(v.tsSep))
	}
	m.Write(body)
	return m.Sum(nil)
}

// parse returns the well-formed signatures in the header's values.
func (v *hmacVerifier) parse(values []string) ([][]byte, error) {
	var sigs [][]byte
	seen := false
	for _, val := range values {
		for part := range strings.SplitSeq(val, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			seen = true
			if len(part) < len(v.prefix) || !strings.EqualFold(part[:len(v.prefix)], v.prefix) {
				continue
			}
			if b, ok := decodeSig(v.encoding, part[len(v.prefix):]); ok && len(b) == v.size {
				sigs = append(sigs, b)
			}
		}
	}
	switch {
	case !seen:
		return nil, ErrNoSignature
	case len(sigs) == 0:
		return nil, ErrMalformed
	}
	return sigs, nil
}

// Verify implements Verifier.
func (v *hmacVerifier) Verify(r *Request) error {
	check := v.header + " signature"
	sigs, err := v.parse(r.Header.Values(v.header))
	if err == ErrNoSignature {
		return fail(check, err, reasonMissing)
	} else if err != nil {
		return fail(check, err, fmt.Sprintf("malformed: want %s<%s>", v.prefix, v.encoding))
	}
	var ts string
	if v.tsHeader != "" {
		ts = r.Header.Get(v.tsHeader)
		if err := checkTime(v.tsHeader, ts, r.now(), v.tolerance); err != nil {
			return err
		}
	}
	for i := range v.keys {
		if anyEqual(sigs, v.sum(i, ts, r.Body)) == nil {
			return nil
		}
	}
	return fail(check, ErrMismatch, reasonMismatch)
}

func encodeSig(encoding string, b []byte) string {
	if encoding == "base64" {
		return base64.StdEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

// decodeSig decodes hex (either case) or base64 (standard or URL alphabet,
// with or without padding).
func decodeSig(encoding, s string) ([]byte, bool) {
	if encoding != "base64" {
		b, err := hex.DecodeString(s)
		return b, err == nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// checkTime checks that the timestamp header's value ts (Unix seconds) is
// within tolerance of now, in either direction.
func checkTime(header, ts string, now time.Time, tolerance time.Duration) error {
	check := header + " timestamp"
	if ts == "" {
		return fail(check, ErrMalformed, reasonMissing)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fail(check, ErrMalformed, "malformed: want Unix seconds")
	}
	at := time.Unix(sec, 0)
	switch {
	case now.Sub(at) > tolerance:
		return fail(check, ErrTimestamp, fmt.Sprintf("too old: %s ago, tolerance %s", now.Sub(at).Truncate(time.Second), tolerance))
	case at.Sub(now) > tolerance:
		return fail(check, ErrTimestamp, fmt.Sprintf("in the future: %s ahead, tolerance %s", at.Sub(now).Truncate(time.Second), tolerance))
	}
	return nil
}

// stripeVerifier checks a Stripe-Signature style header:
// t=<unix>,v1=<hex>[,v1=<hex>...], other keys (v0) ignored.
type stripeVerifier struct {
	header    string
	secrets   []string
	tolerance time.Duration
}

// Verify implements Verifier.
func (v *stripeVerifier) Verify(r *Request) error {
	check := v.header + " signature"
	val := r.Header.Get(v.header)
	if val == "" {
		return fail(check, ErrNoSignature, reasonMissing)
	}
	ts, _, err := ParseTimestamped(val)
	if err != nil {
		return fail(check, ErrMalformed, "malformed: want t=<unix>,v1=<hex>")
	}
	now := r.now()
	if err := checkTime(v.header, ts, now, v.tolerance); err != nil {
		return err
	}
	for _, s := range v.secrets {
		if VerifyTimestamped(s, v.header, r.Header, r.Body, now, v.tolerance) == nil {
			return nil
		}
	}
	return fail(check, ErrMismatch, reasonMismatch)
}

// standardVerifier checks Standard Webhooks headers, or the svix-* ones when
// webhook-signature is absent.
type standardVerifier struct {
	secrets   []string
	tolerance time.Duration
}

// Verify implements Verifier.
func (v *standardVerifier) Verify(r *Request) error {
	idH, tsH, sigH := HeaderID, HeaderTimestamp, HeaderSignature
	if r.Header.Get(sigH) == "" && r.Header.Get("Svix-Signature") != "" {
		idH, tsH, sigH = "Svix-Id", "Svix-Timestamp", "Svix-Signature"
	}
	check := sigH + " signature"
	sigs := r.Header.Get(sigH)
	switch {
	case sigs == "":
		return fail(check, ErrNoSignature, reasonMissing)
	case !slices.ContainsFunc(strings.Fields(sigs), func(s string) bool { return strings.HasPrefix(s, "v1,") }):
		return fail(check, ErrMalformed, "malformed: want v1,<base64> (space-separated)")
	case r.Header.Get(idH) == "":
		return fail(idH+" id", ErrMalformed, reasonMissing)
	}
	now := r.now()
	if err := checkTime(tsH, r.Header.Get(tsH), now, v.tolerance); err != nil {
		return err
	}
	for _, s := range v.secrets {
		if VerifyStandard(s, r.Header, r.Body, now, v.tolerance) == nil {
			return nil
		}
	}
	return fail(check, ErrMismatch, reasonMismatch)
}

// digest hashes a credential so that comparisons take the same time whatever
// the lengths of the values compared.
func digest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// matchAny reports in constant time whether got's digest is among want.
func matchAny(got string, want [][sha256.Size]byte) bool {
	d := digest(got)
	ok := 0
	for i := range want {
		ok |= subtle.ConstantTimeCompare(d[:], want[i][:])
	}
	return ok == 1
}

func digests(secrets []string) [][sha256.Size]byte {
	out := make([][sha256.Size]byte, len(secrets))
	for i, s := range secrets {
		out[i] = digest(s)
	}
	return out
}

// tokenVerifier checks that a header equals one of the secrets.
type tokenVerifier struct {
	header  string
	secrets [][sha256.Size]byte
}

func newTokenVerifier(header string, secrets []string) *tokenVerifier {
	return &tokenVerifier{header: header, secrets: digests(secrets)}
}

// Verify implements Verifier.
func (v *tokenVerifier) Verify(r *Request) error {
	check := v.header + " token"
	got := r.Header.Get(v.header)
	if got == "" {
		return fail(check, ErrNoSignature, reasonMissing)
	}
	if !matchAny(got, v.secrets) {
		return fail(check, ErrMismatch, reasonMismatch)
	}
	return nil
}

// basicVerifier checks HTTP Basic credentials: the username, and one of the
// secrets as the password.
type basicVerifier struct {
	username [][sha256.Size]byte
	secrets  [][sha256.Size]byte
}

func newBasicVerifier(username string, secrets []string) *basicVerifier {
	return &basicVerifier{username: digests([]string{username}), secrets: digests(secrets)}
}

// Verify implements Verifier.
func (v *basicVerifier) Verify(r *Request) error {
	const check = "Authorization basic credentials"
	if r.Header.Get("Authorization") == "" {
		return fail(check, ErrNoSignature, reasonMissing)
	}
	user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth()
	if !ok {
		return fail(check, ErrMalformed, "malformed: want Basic <base64 of username:password>")
	}
	userOK, passOK := matchAny(user, v.username), matchAny(pass, v.secrets)
	if !userOK || !passOK {
		return fail(check, ErrMismatch, reasonMismatch)
	}
	return nil
}

// apiKeyVerifier fails closed: API keys are hookd's own and are checked
// against the store by the inbound layer, which reads them with APIKeyFrom.
type apiKeyVerifier struct{}

// Verify implements Verifier. It never passes a request.
func (apiKeyVerifier) Verify(r *Request) error {
	if _, ok := APIKeyFrom(r.Header, r.Query); !ok {
		return fail("API key", ErrNoSignature, reasonMissing)
	}
	return fail("API key", ErrMismatch, "must be checked against hookd's API keys, not by a signature verifier")
}

// noneVerifier accepts every request.
type noneVerifier struct{}

// Verify implements Verifier. It always returns nil.
func (noneVerifier) Verify(*Request) error { return nil }

// Where APIKeyFrom looks, in order, after Authorization: Bearer.
var (
	apiKeyHeaders = [...]string{"X-Api-Key", "St2-Api-Key", "X-Auth-Token"}
	apiKeyParams  = [...]string{"api_key", "st2-api-key", "x-auth-token"}
)

// APIKeyFrom returns the API key a request carries, so that senders set up
// for StackStorm can be repointed at hookd unchanged. It looks, in order, at
// Authorization: Bearer <key>, the X-API-Key, St2-Api-Key and X-Auth-Token
// headers, and the api_key, st2-api-key and x-auth-token query parameters
// (parameter names match case-insensitively). Empty values are skipped.
func APIKeyFrom(header http.Header, query url.Values) (string, bool) {
	if scheme, key, ok := strings.Cut(strings.TrimSpace(header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "Bearer") {
		if key = strings.TrimSpace(key); key != "" {
			return key, true
		}
	}
	for _, name := range apiKeyHeaders {
		if key := strings.TrimSpace(header.Get(name)); key != "" {
			return key, true
		}
	}
	names := make([]string, 0, len(query))
	for name := range query {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic when several spellings are present
	for _, want := range apiKeyParams {
		for _, name := range names {
			if !strings.EqualFold(name, want) {
				continue
			}
			for _, key := range query[name] {
				if key = strings.TrimSpace(key); key != "" {
					return key, true
				}
			}
		}
	}
	return "", false
}

// APIKeyParams returns the query parameter names (lower case) APIKeyFrom
// reads, to redact them when a request is stored.
func APIKeyParams() []string { return slices.Clone(apiKeyParams[:]) }
