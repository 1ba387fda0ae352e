package hookd

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// EndpointState is whether an endpoint receives deliveries.
type EndpointState string

// Endpoint states.
const (
	EndpointEnabled  EndpointState = "enabled"  // deliveries are created and sent
	EndpointPaused   EndpointState = "paused"   // deliveries are created and held
	EndpointDisabled EndpointState = "disabled" // no deliveries are created
)

// SignatureScheme names a way of signing outbound requests.
type SignatureScheme string

// Signature schemes; see the signature package.
const (
	SchemeStandard    SignatureScheme = "standard"    // Standard Webhooks: webhook-id/-timestamp/-signature
	SchemeTimestamped SignatureScheme = "timestamped" // t=<unix>,v1=<hex> in one header (Stripe style)
	SchemeHMAC        SignatureScheme = "hmac"        // sha256=<hex of body> (GitHub style)
)

// Default header names of the schemes that take one.
const (
	DefaultTimestampedHeader = "Hookd-Signature"
	DefaultHMACHeader        = "X-Hookd-Signature-256"
)

// Signature is one scheme an endpoint's requests are signed with.
type Signature struct {
	Scheme SignatureScheme `json:"scheme"`
	Header string          `json:"header,omitempty"` // for timestamped and hmac; defaults above
}

// Secret is one signing secret of an endpoint. An endpoint has one current
// secret (no expiry) and, during rotation, previous ones until they expire.
type Secret struct {
	Value     string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Defaults of endpoint settings.
const (
	DefaultTimeout     = 15 * time.Second
	MaxTimeout         = 5 * time.Minute
	DefaultMaxInFlight = 16
	MaxRateLimit       = 10000 // deliveries per second
)

// DefaultRetrySchedule is the delay before each attempt: the first is
// immediate, then the Standard Webhooks recommendation. After the last
// attempt fails the delivery is dead. Jitter is added when scheduling.
var DefaultRetrySchedule = []Duration{
	0,
	Duration(5 * time.Second),
	Duration(5 * time.Minute),
	Duration(30 * time.Minute),
	Duration(2 * time.Hour),
	Duration(5 * time.Hour),
	Duration(10 * time.Hour),
	Duration(14 * time.Hour),
	Duration(20 * time.Hour),
	Duration(24 * time.Hour),
}

// Endpoint is a URL subscribed to events of one tenant.
type Endpoint struct {
	ID            string            `json:"id"`
	TenantID      string            `json:"tenant"`
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	URL           string            `json:"url"`
	Events        []string          `json:"events"`
	Headers       map[string]string `json:"headers"`
	Signatures    []Signature       `json:"signatures"`
	Secrets       []Secret          `json:"-"`
	State         EndpointState     `json:"state"`
	StateReason   string            `json:"state_reason,omitempty"`
	StateChanged  *time.Time        `json:"state_changed_at,omitempty"`
	Timeout       Duration          `json:"timeout"`
	RetrySchedule []Duration        `json:"retry_schedule"`
	MaxInFlight   int               `json:"max_in_flight"`
	// RateLimit caps deliveries started per second (0: no limit). It holds
	// across all nodes: on PostgreSQL the budget is kept in the database.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// Mode is at_least_once (retried per RetrySchedule) or fire_and_forget
	// (one attempt, never retried).
	Mode DeliveryMode `json:"mode"`
	// Filter, when set, is criteria (rule language) over the event
	// {"id","type","data"}: only events it matches get a delivery.
	Filter    json.RawMessage `json:"filter,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`

	// Derived from attempts; maintained by the store.
	LastDeliveryAt      *time.Time `json:"last_delivery_at,omitempty"`
	LastStatus          int        `json:"last_status,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	// FailingSince is the first failed attempt of the current run of
	// failures (nil after a success); auto-disable measures from it.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// LastTest is the outcome of the last POST .../test.
	LastTest *TestResult `json:"last_test,omitempty"`
	// Stats are the attempt counts of the last 24 h; filled in by the API.
	Stats *EndpointStats `json:"stats,omitempty"`
}

// Subscribes reports whether the endpoint wants events of type typ.
// Operational events (hookd.*) are only for endpoints that name them
// ("hookd.*", "hookd.delivery.*" or exact): "*" does not include them,
// so an endpoint that takes everything is not flooded with hookd's
// reports about itself.
func (e *Endpoint) Subscribes(typ string) bool {
	for _, p := range e.Events {
		if p == "*" && IsOperational(typ) {
			continue
		}
		if MatchEventPattern(p, typ) {
			return true
		}
	}
	return false
}

// ValidSecrets returns the values of the secrets that sign at time now,
// current first.
func (e *Endpoint) ValidSecrets(now time.Time) []string {
	out := make([]string, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		if s.ExpiresAt == nil || now.Before(*s.ExpiresAt) {
			out = append(out, s.Value)
		}
	}
	return out
}

// EndpointUpdate holds the fields to change; nil means unchanged.
type EndpointUpdate struct {
	Name          *string            `json:"name"`
	Description   *string            `json:"description"`
	URL           *string            `json:"url"`
	Events        *[]string          `json:"events"`
	Headers       *map[string]string `json:"headers"`
	Signatures    *[]Signature       `json:"signatures"`
	Timeout       *Duration          `json:"timeout"`
	RetrySchedule *[]Duration        `json:"retry_schedule"`
	MaxInFlight   *int               `json:"max_in_flight"`
	RateLimit     *float64           `json:"rate_limit"`
	Mode          *DeliveryMode      `json:"mode"`
	Filter        NullableJSON       `json:"filter,omitzero"` // null removes it

	// Set by hookd, not by API callers. A State change also sets the
	// state's time, and enabling starts the failure count afresh.
	State       *EndpointState `json:"-"`
	StateReason *string        `json:"-"`
	Secrets     *[]Secret      `json:"-"`
	LastTest    *TestResult    `json:"-"`
}

// Apply copies the set fields of u onto e.
func (u *EndpointUpdate) Apply(e *Endpoint) {
	if u.Name != nil {
		e.Name = *u.Name
	}
	if u.Description != nil {
		e.Description = *u.Description
	}
	if u.URL != nil {
		e.URL = *u.URL
	}
	if u.Events != nil {
		e.Events = *u.Events
	}
	if u.Headers != nil {
		e.Headers = *u.Headers
	}
	if u.Signatures != nil {
		e.Signatures = *u.Signatures
	}
	if u.Timeout != nil {
		e.Timeout = *u.Timeout
	}
	if u.RetrySchedule != nil {
		e.RetrySchedule = *u.RetrySchedule
	}
	if u.MaxInFlight != nil {
		e.MaxInFlight = *u.MaxInFlight
	}
	if u.RateLimit != nil {
		e.RateLimit = *u.RateLimit
	}
	if u.Mode != nil {
		e.Mode = *u.Mode
	}
	if u.Filter.Set {
		e.Filter = u.Filter.Value
	}
	if u.State != nil {
		e.State = *u.State
	}
	if u.StateReason != nil {
		e.StateReason = *u.StateReason
	}
	if u.Secrets != nil {
		e.Secrets = *u.Secrets
	}
	if u.LastTest != nil {
		e.LastTest = u.LastTest
	}
}

// EndpointFilter selects endpoints of one tenant.
type EndpointFilter struct {
	TenantID string
	State    *EndpointState
	Page
}

// SetDefaults fills unset settings with their defaults.
func (e *Endpoint) SetDefaults() {
	if e.Events == nil {
		e.Events = []string{}
	}
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	if len(e.Signatures) == 0 {
		e.Signatures = []Signature{{Scheme: SchemeStandard}}
	}
	for i := range e.Signatures {
		s := &e.Signatures[i]
		if s.Header == "" && s.Scheme == SchemeTimestamped {
			s.Header = DefaultTimestampedHeader
		} else if s.Header == "" && s.Scheme == SchemeHMAC {
			s.Header = DefaultHMACHeader
		}
	}
	if e.State == "" {
		e.State = EndpointEnabled
	}
	if e.Timeout == 0 {
		e.Timeout = Duration(DefaultTimeout)
	}
	if len(e.RetrySchedule) == 0 {
		e.RetrySchedule = append([]Duration(nil), DefaultRetrySchedule...)
	}
	if e.MaxInFlight == 0 {
		e.MaxInFlight = DefaultMaxInFlight
	}
	if e.Mode == "" {
		e.Mode = ModeAtLeastOnce
	}
}

// reservedHeaders may not be set as custom headers: hookd sets them itself.
var reservedHeaders = map[string]bool{
	"content-type": true, "content-length": true, "host": true, "user-agent": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"transfer-encoding": true, "connection": true,
}

// Validate returns EINVALID if the endpoint's fields are not acceptable.
// Unless allowInsecure (the --dev flag) is set, the URL must be https.
// Whether the URL's host may be dialed is checked when dialing.
func (e *Endpoint) Validate(allowInsecure bool) error {
	if err := ValidateEndpointURL(e.URL, allowInsecure); err != nil {
		return err
	}
	if len(e.Events) == 0 {
		return Errorf(EINVALID, "An endpoint needs at least one event pattern in events.")
	}
	for _, p := range e.Events {
		if err := ValidateEventPattern(p); err != nil {
			return err
		}
	}
	if len(e.Name) > 200 || len(e.Description) > 2000 {
		return Errorf(EINVALID, "Name must be at most 200 and description at most 2000 characters.")
	}
	for k, v := range e.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			return Errorf(EINVALID, "Invalid custom header %q.", k)
		}
		if reservedHeaders[strings.ToLower(k)] {
			return Errorf(EINVALID, "Header %q is set by hookd and cannot be customised.", k)
		}
	}
	seen := map[Signature]bool{}
	for _, s := range e.Signatures {
		switch s.Scheme {
		case SchemeStandard:
			if s.Header != "" {
				return Errorf(EINVALID, "The standard scheme uses fixed webhook-* headers; header must be empty.")
			}
		case SchemeTimestamped, SchemeHMAC:
			if !validHeaderName(s.Header) || reservedHeaders[strings.ToLower(s.Header)] {
				return Errorf(EINVALID, "Invalid signature header %q.", s.Header)
			}
		default:
			return Errorf(EINVALID, "Unknown signature scheme %q: use standard, timestamped or hmac.", s.Scheme)
		}
		if seen[s] {
			return Errorf(EINVALID, "Signature scheme %q is listed twice.", s.Scheme)
		}
		seen[s] = true
	}
	if e.Timeout <= 0 || time.Duration(e.Timeout) > MaxTimeout {
		return Errorf(EINVALID, "Timeout must be between 1ms and %s.", MaxTimeout)
	}
	if len(e.RetrySchedule) > 50 {
		return Errorf(EINVALID, "A retry schedule has at most 50 attempts.")
	}
	for _, d := range e.RetrySchedule {
		if d < 0 || time.Duration(d) > 7*24*time.Hour {
			return Errorf(EINVALID, "Retry delays must be between 0 and 168h.")
		}
	}
	if e.MaxInFlight < 1 || e.MaxInFlight > 1000 {
		return Errorf(EINVALID, "max_in_flight must be between 1 and 1000.")
	}
	if !(e.RateLimit >= 0 && e.RateLimit <= MaxRateLimit) {
		return Errorf(EINVALID, "rate_limit must be between 0 (no limit) and %d deliveries per second.", MaxRateLimit)
	}
	switch e.State {
	case EndpointEnabled, EndpointPaused, EndpointDisabled:
	default:
		return Errorf(EINVALID, "Unknown endpoint state %q.", e.State)
	}
	switch e.Mode {
	case ModeAtLeastOnce, ModeFireAndForget:
	default:
		return Errorf(EINVALID, "Unknown delivery mode %q: use at_least_once or fire_and_forget.", e.Mode)
	}
	return nil
}

// ValidateEndpointURL returns EINVALID unless raw is an absolute https URL
// (or http when allowInsecure) with a host and no credentials.
func ValidateEndpointURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return Errorf(EINVALID, "Invalid URL %q: it must be absolute, like https://example.com/hook.", raw)
	}
	if len(raw) > 2048 {
		return Errorf(EINVALID, "URL must be at most 2048 characters.")
	}
	if u.User != nil {
		return Errorf(EINVALID, "URL must not contain credentials; use custom headers instead.")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowInsecure:
	case u.Scheme == "http":
		return Errorf(EINVALID, "URL must use https (plain http is allowed only with --dev).")
	default:
		return Errorf(EINVALID, "URL scheme must be https.")
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// SecretPrefix starts every endpoint signing secret (Standard Webhooks form).
const SecretPrefix = "whsec_"

// NewEndpointSecret returns a new signing secret: SecretPrefix and the
// standard base64 of 32 random bytes. The standard scheme signs with the
// decoded bytes; timestamped and hmac sign with the whole string.
func NewEndpointSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ValidateEndpointSecret returns EINVALID unless secret is a usable
// caller-supplied signing secret: SecretPrefix followed by the standard
// base64 (with padding) of 24 to 64 bytes. The API checks the secrets it
// is given with it, and so does a configuration file.
func ValidateEndpointSecret(secret string) error {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	// The decoder skips line breaks; a secret must not contain any.
	ok = ok && len(b64) <= 100 && !strings.ContainsAny(b64, "\r\n")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) < 24 || len(raw) > 64 {
		return Errorf(EINVALID, "A secret must be whsec_ followed by the base64 of 24 to 64 random bytes.")
	}
	return nil
}

// DefaultSecretOverlap is how long a replaced signing secret keeps
// signing by default: after a rotation through the API that names no
// overlap, and after a configuration reload that changes the secret.
const DefaultSecretOverlap = 24 * time.Hour

// NullableJSON is an optional JSON value in an update: Set when the field
// was given, Value nil when it was given as null (remove).
type NullableJSON struct {
	Set   bool
	Value json.RawMessage
}

// SetTo returns a NullableJSON that sets v (nil: removes).
func SetTo(v json.RawMessage) NullableJSON { return NullableJSON{Set: true, Value: v} }

// UnmarshalJSON records that the field was given, keeping the value byte
// for byte.
func (n *NullableJSON) UnmarshalJSON(b []byte) error {
	n.Set, n.Value = true, nil
	if string(b) != "null" {
		n.Value = append(json.RawMessage(nil), b...)
	}
	return nil
}

// MarshalJSON writes the value, or null.
func (n NullableJSON) MarshalJSON() ([]byte, error) {
	if len(n.Value) == 0 {
		return []byte("null"), nil
	}
	return n.Value, nil
}

// IsZero reports an unset field (omitted with omitzero).
func (n NullableJSON) IsZero() bool { return !n.Set }
