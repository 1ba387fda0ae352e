package config

import (
	"github.com/hookd/hookd"
)

// File is a configuration file: what a set of tenants should hold. Parse
// and Load return it expanded and validated; Export builds one from a
// store. Its exported fields are the YAML schema (docs/CONFIG.md); they
// never hold a secret value: secret fields keep the ${VAR} reference as
// written, and the values live in unexported fields that Plan reads.
type File struct {
	// Tenants are the tenants the file declares and what each holds.
	Tenants []*TenantSpec `yaml:"tenants"`
	// Keys are superadmin API keys (they belong to no tenant).
	Keys []*KeySpec `yaml:"keys,omitempty"`
	// Adopt lets the file take over superadmin keys that exist already
	// (created through the API or by the bootstrap) and that have the
	// hash of one of Keys. Without it such a key is an error.
	Adopt bool `yaml:"adopt,omitempty"`

	name    string // the file name in messages
	comment string // written at the top by Marshal (Export sets it)
	loc     loc
	checked bool // Parse validated it: Plan may use it
}

// Name returns the name the file was parsed under (its path for Load).
func (f *File) Name() string { return f.name }

// TenantSpec is one tenant and the resources of it that the file manages.
type TenantSpec struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name,omitempty"`
	// Adopt lets the file take over this tenant and the resources below
	// that exist already with the same names (created through the API).
	// Without it they are an error; Export sets it.
	Adopt      bool             `yaml:"adopt,omitempty"`
	EventTypes []*EventTypeSpec `yaml:"event_types,omitempty"`
	Endpoints  []*EndpointSpec  `yaml:"endpoints,omitempty"`
	Sources    []*SourceSpec    `yaml:"sources,omitempty"`
	Rules      []*RuleSpec      `yaml:"rules,omitempty"`
	Keys       []*KeySpec       `yaml:"keys,omitempty"`

	loc loc
}

// EventTypeSpec is an entry of the tenant's event catalog.
type EventTypeSpec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	Schema      JSON   `yaml:"schema,omitempty"`
	Example     JSON   `yaml:"example,omitempty"`
	Deprecated  bool   `yaml:"deprecated,omitempty"`
	Archived    bool   `yaml:"archived,omitempty"`

	loc loc
	typ *hookd.EventType
}

// EndpointSpec is an endpoint. Name identifies it within its tenant.
type EndpointSpec struct {
	Name          string            `yaml:"name"`
	Description   string            `yaml:"description,omitempty"`
	URL           string            `yaml:"url"`
	Events        []string          `yaml:"events"`
	Headers       map[string]string `yaml:"headers,omitempty"`
	Filter        JSON              `yaml:"filter,omitempty"`
	Signatures    []SignatureSpec   `yaml:"signatures,omitempty"`
	RetrySchedule []Duration        `yaml:"retry_schedule,omitempty"`
	Timeout       Duration          `yaml:"timeout,omitempty"`
	MaxInFlight   int               `yaml:"max_in_flight,omitempty"`
	RateLimit     float64           `yaml:"rate_limit,omitempty"`
	Mode          string            `yaml:"mode,omitempty"`
	// Secret is a ${VAR} reference to the signing secret (whsec_ and
	// base64); empty, or a variable that is empty, keeps the current
	// secret (a new endpoint gets a generated one).
	Secret string `yaml:"secret,omitempty"`

	loc    loc
	ep     *hookd.Endpoint
	secret string // the value of Secret, "" to keep
}

// SignatureSpec is one scheme the endpoint's requests are signed with.
type SignatureSpec struct {
	Scheme string `yaml:"scheme"`
	Header string `yaml:"header,omitempty"`

	loc loc
}

// SourceSpec is an inbound source, POST /v1/webhooks/{name}. Names are
// unique across tenants.
type SourceSpec struct {
	Name           string        `yaml:"name"`
	Description    string        `yaml:"description,omitempty"`
	Verifier       VerifierSpec  `yaml:"verifier"`
	ContentTypes   []string      `yaml:"content_types,omitempty"`
	MaxBodyBytes   int64         `yaml:"max_body_bytes,omitempty"`
	Response       *ResponseSpec `yaml:"response,omitempty"`
	RateLimit      float64       `yaml:"rate_limit,omitempty"`
	DedupWindow    Duration      `yaml:"dedup_window,omitempty"`
	HeartbeatEvery Duration      `yaml:"heartbeat_every,omitempty"`

	loc loc
	src *hookd.Source // Verifier.Secrets nil: keep the current ones
}

// VerifierSpec is how a source checks requests (docs/VERIFIERS.md).
type VerifierSpec struct {
	Type string `yaml:"type"`
	// Secrets are ${VAR} references, current first. When every one is
	// empty the source keeps its current secrets.
	Secrets         []string `yaml:"secrets,omitempty"`
	Header          string   `yaml:"header,omitempty"`
	Algorithm       string   `yaml:"algorithm,omitempty"`
	Encoding        string   `yaml:"encoding,omitempty"`
	Prefix          string   `yaml:"prefix,omitempty"`
	TimestampHeader string   `yaml:"timestamp_header,omitempty"`
	Tolerance       Duration `yaml:"tolerance,omitempty"`
	Username        string   `yaml:"username,omitempty"`

	loc     loc
	secrets []string // the values of Secrets, empty ones dropped
}

// ResponseSpec is what a source answers instead of 202 with the trigger id.
type ResponseSpec struct {
	Status      int    `yaml:"status"`
	Body        string `yaml:"body,omitempty"`
	ContentType string `yaml:"content_type,omitempty"`

	loc loc
}

// RuleSpec is a rule: what it listens to, criteria and an action.
type RuleSpec struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description,omitempty"`
	Enabled     *bool      `yaml:"enabled,omitempty"` // default true
	Source      string     `yaml:"source,omitempty"`
	Trigger     string     `yaml:"trigger,omitempty"`
	Git         *GitSpec   `yaml:"git,omitempty"`
	Criteria    JSON       `yaml:"criteria,omitempty"`
	Action      ActionSpec `yaml:"action"`

	loc  loc
	rule *hookd.Rule
}

// GitSpec makes a rule listen to normalized git events.
type GitSpec struct {
	Event    string `yaml:"event,omitempty"`
	Repo     string `yaml:"repo,omitempty"`
	Branch   string `yaml:"branch,omitempty"`
	Provider string `yaml:"provider,omitempty"`

	loc loc
}

// ActionSpec is what a rule does (docs/ACTIONS.md).
type ActionSpec struct {
	Type           string            `yaml:"type"`
	EventType      string            `yaml:"event_type,omitempty"`
	Data           JSON              `yaml:"data,omitempty"`
	URL            string            `yaml:"url,omitempty"`
	ForwardHeaders []string          `yaml:"forward_headers,omitempty"`
	Headers        map[string]string `yaml:"headers,omitempty"`
	RetrySchedule  []Duration        `yaml:"retry_schedule,omitempty"`
	Command        []string          `yaml:"command,omitempty"`
	Env            map[string]string `yaml:"env,omitempty"`
	Stdin          string            `yaml:"stdin,omitempty"`
	Shell          bool              `yaml:"shell,omitempty"`
	Dir            string            `yaml:"dir,omitempty"`
	Concurrency    int               `yaml:"concurrency,omitempty"`
	Timeout        Duration          `yaml:"timeout,omitempty"`

	loc loc
}

// KeySpec is an API key, given by its hash or by a ${VAR} holding the key.
// Name identifies it within its tenant (or among superadmin keys).
type KeySpec struct {
	Name string `yaml:"name"`
	// Role is admin or viewer for a tenant's keys, superadmin (the
	// default, and the only one allowed) for top-level keys.
	Role string `yaml:"role,omitempty"`
	// Hash is the key's hex SHA-256, as hookd stores it (hookd.HashAPIKey).
	Hash string `yaml:"hash,omitempty"`
	// Key is a ${VAR} reference to the key itself; it is hashed on load
	// and its value is not kept.
	Key string `yaml:"key,omitempty"`

	loc  loc
	hash string // Hash, or the hash of Key's value
}

// resourceName names a resource in messages and plans: "endpoint
// acme/billing", "tenant acme", "key root".
func resourceName(kind, tenant, name string) string {
	label := kindLabel(kind)
	if tenant == "" {
		return label + " " + name
	}
	return label + " " + tenant + "/" + name
}

// kindLabel is how a kind is written in plans and messages.
func kindLabel(kind string) string {
	switch kind {
	case hookd.KindEventType:
		return "event type"
	default:
		return kind
	}
}
