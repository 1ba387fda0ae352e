package signature

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// Inbound verifier types: provider presets, generic schemes, and none.
const (
	TypeGitHub    = "github"    // X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
	TypeGitLab    = "gitlab"    // X-Gitlab-Token: the secret itself
	TypeBitbucket = "bitbucket" // X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body> (Cloud and Data Center)
	TypeStripe    = "stripe"    // Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of t.body>
	TypeSlack     = "slack"     // X-Slack-Signature: v0=<hex HMAC-SHA256 of v0:ts:body>
	TypeShopify   = "shopify"   // X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>
	TypeStandard  = "standard"  // Standard Webhooks (and svix-*) headers
	TypeHMAC      = "hmac"      // generic HMAC: header, algorithm, encoding, prefix, optional timestamp
	TypeToken     = "token"     // a configured header equals a secret
	TypeBasic     = "basic"     // HTTP Basic auth: username and a secret as password
	TypeAPIKey    = "apikey"    // hookd's own API keys; see APIKeyFrom
	TypeNone      = "none"      // accepts every request
)

// VerifierConfig configures an inbound verifier. Which fields a type takes is
// listed in docs/VERIFIERS.md; NewVerifier rejects a field the type does not
// use, so a typo or a wrong type shows at configuration time.
type VerifierConfig struct {
	// Type is one of the Type constants. It has no default: "none" must be
	// chosen explicitly.
	Type string
	// Secrets are the valid secrets, current first; a request passes if it
	// verifies under any of them (rotation). Required by every type but
	// apikey and none. Standard secrets are "whsec_" and base64.
	Secrets []string
	// Header overrides the signature or token header of github, gitlab,
	// bitbucket, stripe, slack and shopify; required by hmac and token.
	Header string
	// Algorithm of hmac: sha1, sha256 (default) or sha512.
	Algorithm string
	// Encoding of hmac signatures: hex (default) or base64 (standard or
	// URL alphabet, padding optional).
	Encoding string
	// Prefix of hmac signatures, e.g. "sha256="; matched case-insensitively.
	Prefix string
	// TimestampHeader makes hmac sign "<timestamp>.<body>" instead of the
	// body, and checks the timestamp (Unix seconds) against Tolerance.
	TimestampHeader string
	// Tolerance is how far a signed timestamp may be from now, in either
	// direction, for stripe, slack, standard and hmac with a timestamp
	// header. Zero means DefaultTolerance (five minutes).
	Tolerance time.Duration
	// Username of basic (required); the password is one of Secrets.
	Username string
}

// Request is what a verifier checks: the request as received, with the raw
// body, and the time to check timestamps against (time.Now when zero).
type Request struct {
	Header http.Header
	Query  url.Values
	Body   []byte
	Now    time.Time
}

func (r *Request) now() time.Time {
	if r.Now.IsZero() {
		return time.Now()
	}
	return r.Now
}

// Verifier checks that an inbound request comes from the configured sender.
// Verify returns nil or a *VerifyError. Implementations are safe for
// concurrent use.
type Verifier interface {
	Verify(r *Request) error
}

// VerifyError says which check a request failed and why. It never holds a
// secret or an expected value, so its message is safe to log and to return to
// the sender.
type VerifyError struct {
	// Check names what was checked, e.g. "X-Hub-Signature-256 signature" or
	// "X-Slack-Request-Timestamp timestamp".
	Check string
	// Reason says how it failed, e.g. "no signature matches".
	Reason string
	// Err is ErrNoSignature (missing), ErrMalformed, ErrTimestamp or
	// ErrMismatch; match it with errors.Is.
	Err error
}

// Error returns "<check>: <reason>".
func (e *VerifyError) Error() string { return e.Check + ": " + e.Reason }

// Unwrap returns Err.
func (e *VerifyError) Unwrap() error { return e.Err }

func fail(check string, err error, reason string) *VerifyError {
	if reason == "" {
		reason = err.Error()
	}
	return &VerifyError{Check: check, Reason: reason, Err: err}
}

// kind is how a type checks a request.
type kind int

const (
	kindHMAC kind = iota
	kindStripe
	kindStandard
	kindToken
	kindBasic
	kindAPIKey
	kindNone
)

// field is an optional VerifierConfig field, for telling which types take which.
type field uint

const (
	fHeader field = 1 << iota
	fAlgorithm
	fEncoding
	fPrefix
	fTimestampHeader
	fTolerance
	fUsername
)

var fieldNames = []struct {
	f    field
	name string
}{
	{fHeader, "header"}, {fAlgorithm, "algorithm"}, {fEncoding, "encoding"}, {fPrefix, "prefix"},
	{fTimestampHeader, "timestamp_header"}, {fTolerance, "tolerance"}, {fUsername, "username"},
}

// preset is one verifier type. For kindHMAC the signed content is the body,
// or tsPrefix + timestamp + tsSep + body when a timestamp header is set.
type preset struct {
	kind      kind
	fields    field // optional fields the type accepts
	secrets   bool  // requires secrets
	header    string
	algorithm string
	encoding  string
	prefix    string
	tsHeader  string
	tsPrefix  string
	tsSep     string
}

// presets holds every verifier type. The hmac-family providers differ only
// in their header, encoding, prefix and timestamp layout.
var presets = map[string]preset{
	TypeGitHub:    {kind: kindHMAC, fields: fHeader, secrets: true, header: "X-Hub-Signature-256", algorithm: "sha256", encoding: "hex", prefix: "sha256="},
	TypeBitbucket: {kind: kindHMAC, fields: fHeader, secrets: true, header: "X-Hub-Signature", algorithm: "sha256", encoding: "hex", prefix: "sha256="},
	TypeShopify:   {kind: kindHMAC, fields: fHeader, secrets: true, header: "X-Shopify-Hmac-Sha256", algorithm: "sha256", encoding: "base64"},
	TypeSlack: {kind: kindHMAC, fields: fHeader | fTolerance, secrets: true, header: "X-Slack-Signature", algorithm: "sha256", encoding: "hex", prefix: "v0=",
		tsHeader: "X-Slack-Request-Timestamp", tsPrefix: "v0:", tsSep: ":"},
	TypeHMAC: {kind: kindHMAC, fields: fHeader | fAlgorithm | fEncoding | fPrefix | fTimestampHeader | fTolerance, secrets: true,
		algorithm: "sha256", encoding: "hex", tsSep: "."},
	TypeStripe:   {kind: kindStripe, fields: fHeader | fTolerance, secrets: true, header: "Stripe-Signature"},
	TypeStandard: {kind: kindStandard, fields: fTolerance, secrets: true},
	TypeGitLab:   {kind: kindToken, fields: fHeader, secrets: true, header: "X-Gitlab-Token"},
	TypeToken:    {kind: kindToken, fields: fHeader, secrets: true},
	TypeBasic:    {kind: kindBasic, fields: fUsername, secrets: true},
	TypeAPIKey:   {kind: kindAPIKey},
	TypeNone:     {kind: kindNone},
}

var hashes = map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}

// verifierTypes lists the types for error messages, sorted.
func verifierTypes() string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// resolve validates cfg and returns its preset with the config's overrides
// applied. Errors are *hookd.Error with code EINVALID naming the field.
func resolve(cfg VerifierConfig) (preset, error) {
	invalid := func(format string, args ...any) (preset, error) {
		return preset{}, hookd.Errorf(hookd.EINVALID, "Verifier "+format, args...)
	}
	if cfg.Type == "" {
		return invalid("type is required: use one of %s.", verifierTypes())
	}
	p, ok := presets[cfg.Type]
	if !ok {
		return invalid("type %q is unknown: use one of %s.", cfg.Type, verifierTypes())
	}
	set := map[field]bool{
		fHeader: cfg.Header != "", fAlgorithm: cfg.Algorithm != "", fEncoding: cfg.Encoding != "",
		fPrefix: cfg.Prefix != "", fTimestampHeader: cfg.TimestampHeader != "",
		fTolerance: cfg.Tolerance != 0, fUsername: cfg.Username != "",
	}
	for _, fn := range fieldNames {
		if set[fn.f] && p.fields&fn.f == 0 {
			return invalid("type %q takes no %s.", cfg.Type, fn.name)
		}
	}

	switch {
	case p.secrets && len(cfg.Secrets) == 0:
		return invalid("type %q needs at least one secret in secrets.", cfg.Type)
	case !p.secrets && len(cfg.Secrets) > 0:
		return invalid("type %q takes no secrets.", cfg.Type)
	}
	for i, s := range cfg.Secrets {
		if s == "" {
			return invalid("secrets[%d] is empty.", i)
		}
		if p.kind == kindStandard {
			if _, err := StandardKey(s); err != nil {
				return invalid("secrets[%d] is not a Standard Webhooks secret: use whsec_ followed by base64.", i)
			}
		}
	}

	if cfg.Header != "" {
		if !validHeaderName(cfg.Header) {
			return invalid("header %q is not a valid header name.", cfg.Header)
		}
		p.header = http.CanonicalHeaderKey(cfg.Header)
	}
	if p.header == "" && (p.kind == kindHMAC || p.kind == kindToken) {
		return invalid("type %q needs a header.", cfg.Type)
	}
	if cfg.TimestampHeader != "" {
		if !validHeaderName(cfg.TimestampHeader) {
			return invalid("timestamp_header %q is not a valid header name.", cfg.TimestampHeader)
		}
		p.tsHeader = http.CanonicalHeaderKey(cfg.TimestampHeader)
	}
	if cfg.Algorithm != "" {
		p.algorithm = strings.ToLower(cfg.Algorithm)
		if hashes[p.algorithm] == nil {
			return invalid("algorithm %q is unknown: use sha1, sha256 or sha512.", cfg.Algorithm)
		}
	}
	if cfg.Encoding != "" {
		p.encoding = strings.ToLower(cfg.Encoding)
		if p.encoding != "hex" && p.encoding != "base64" {
			return invalid("encoding %q is unknown: use hex or base64.", cfg.Encoding)
		}
	}
	if cfg.Prefix != "" {
		p.prefix = cfg.Prefix
	}
	switch {
	case cfg.Tolerance < 0:
		return invalid("tolerance must not be negative.")
	case cfg.Tolerance != 0 && p.kind == kindHMAC && p.tsHeader == "":
		return invalid("tolerance needs a timestamp_header.")
	}
	if p.kind == kindBasic && (cfg.Username == "" || strings.Contains(cfg.Username, ":")) {
		return invalid("type %q needs a username without a colon.", cfg.Type)
	}
	return p, nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 field name).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// NewVerifier returns the verifier that cfg describes. An invalid cfg gives a
// *hookd.Error with code EINVALID whose message names the field.
func NewVerifier(cfg VerifierConfig) (Verifier, error) {
	p, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	tol := cfg.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	switch p.kind {
	case kindHMAC:
		return newHMACVerifier(p, cfg.Secrets, tol), nil
	case kindStripe:
		return &stripeVerifier{header: p.header, secrets: cfg.Secrets, tolerance: tol}, nil
	case kindStandard:
		return &standardVerifier{secrets: cfg.Secrets, tolerance: tol}, nil
	case kindToken:
		return newTokenVerifier(p.header, cfg.Secrets), nil
	case kindBasic:
		return newBasicVerifier(cfg.Username, cfg.Secrets), nil
	case kindAPIKey:
		return apiKeyVerifier{}, nil
	default:
		return noneVerifier{}, nil
	}
}

// SignatureHeaders returns the canonical names of the headers that carry a
// verifier type's signatures or credentials, to redact when a request is
// stored. Timestamps and delivery ids are left out: they are not secret and
// help de-duplication. A configured Header is not included; see
// VerifierConfig.SignatureHeaders. Unknown types give nil.
func SignatureHeaders(typ string) []string {
	switch p := presets[typ]; {
	case p.kind == kindStandard:
		return []string{HeaderSignature, "Svix-Signature"}
	case p.kind == kindBasic:
		return []string{"Authorization"}
	case p.kind == kindAPIKey:
		return append([]string{"Authorization"}, apiKeyHeaders[:]...)
	case p.header != "":
		return []string{p.header}
	}
	return nil
}

// SignatureHeaders returns SignatureHeaders(c.Type) with c.Header in place of
// the type's default header when set.
func (c VerifierConfig) SignatureHeaders() []string {
	if c.Header == "" {
		return SignatureHeaders(c.Type)
	}
	return []string{http.CanonicalHeaderKey(c.Header)}
}

// SignRequest returns the headers that make a request with body, sent at
// now, pass the verifier cfg describes, signed with cfg's first secret. It
// is for producing test requests (hookd send --provider). Standard requests
// get a new webhook-id. The apikey type cannot sign: its keys are hookd's
// own, sent in X-API-Key or Authorization: Bearer.
func SignRequest(cfg VerifierConfig, body []byte, now time.Time) (http.Header, error) {
	p, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	switch p.kind {
	case kindHMAC:
		ts := ""
		if p.tsHeader != "" {
			ts = strconv.FormatInt(now.Unix(), 10)
			h.Set(p.tsHeader, ts)
		}
		mac := newHMACVerifier(p, cfg.Secrets[:1], 0).sum(0, ts, body)
		h.Set(p.header, p.prefix+encodeSig(p.encoding, mac))
	case kindStripe, kindStandard:
		sc := hookd.Signature{Scheme: hookd.SchemeTimestamped, Header: p.header}
		if p.kind == kindStandard {
			sc = hookd.Signature{Scheme: hookd.SchemeStandard}
		}
		s, err := NewSigner([]hookd.Signature{sc}, cfg.Secrets[:1])
		if err != nil {
			return nil, err
		}
		s.Sign(h, hookd.NewID(hookd.PrefixDelivery), now, body)
	case kindToken:
		h.Set(p.header, cfg.Secrets[0])
	case kindBasic:
		(&http.Request{Header: h}).SetBasicAuth(cfg.Username, cfg.Secrets[0])
	case kindAPIKey:
		return nil, hookd.Errorf(hookd.EINVALID, "Verifier type %q cannot sign: send a hookd API key in X-API-Key.", cfg.Type)
	}
	return h, nil
}

// String describes c without its secrets, so that printing a config with
// %v or %+v cannot leak them.
func (c VerifierConfig) String() string {
	return fmt.Sprintf("%s verifier (%d secrets)", c.Type, len(c.Secrets))
}

// GoString is String, for %#v.
func (c VerifierConfig) GoString() string { return c.String() }
