package hookd

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ID prefixes of the receiving side.
const (
	PrefixSource  = "src"
	PrefixTrigger = "trg"
	PrefixRule    = "rul"
	PrefixRun     = "run"
)

// Limits and defaults of sources.
const (
	DefaultSourceMaxBody = 1 << 20 // bytes
	MaxSourceMaxBody     = 32 << 20
	DefaultDedupWindow   = 24 * time.Hour
	MaxDedupWindow       = 30 * 24 * time.Hour
)

// Content kinds a source accepts.
const (
	ContentJSON = "json" // application/json (and +json)
	ContentForm = "form" // application/x-www-form-urlencoded
	ContentText = "text" // text/plain
)

// SourceVerifier is how a source checks that a request is genuine; the
// signature package implements each Type. Secrets are write-only: they are
// stored sealed and never shown (not even in JSON: API inputs carry them in
// a field of their own).
type SourceVerifier struct {
	Type            string   `json:"type"` // github, gitlab, stripe, slack, shopify, standard, bitbucket, hmac, token, basic, apikey, none
	Secrets         []string `json:"-"`
	Header          string   `json:"header,omitempty"`
	Algorithm       string   `json:"algorithm,omitempty"` // hmac: sha1, sha256, sha512
	Encoding        string   `json:"encoding,omitempty"`  // hmac: hex, base64
	Prefix          string   `json:"prefix,omitempty"`
	TimestampHeader string   `json:"timestamp_header,omitempty"`
	Tolerance       Duration `json:"tolerance,omitempty"`
	Username        string   `json:"username,omitempty"` // basic
}

// SourceResponse is what a source answers to an accepted request instead
// of the default 202 with the trigger id.
type SourceResponse struct {
	Status      int    `json:"status"` // 200..299
	Body        string `json:"body,omitempty"`
	ContentType string `json:"content_type,omitempty"`
}

// Source is a named inbound URL: POST /v1/webhooks/{name}. Names are
// unique across tenants (the URL names no tenant).
type Source struct {
	ID           string          `json:"id"`
	TenantID     string          `json:"tenant"`
	Name         string          `json:"name"` // normalized: no leading or trailing "/"
	Description  string          `json:"description"`
	Verifier     SourceVerifier  `json:"verifier"`
	ContentTypes []string        `json:"content_types"`
	MaxBodyBytes int64           `json:"max_body_bytes"`
	Response     *SourceResponse `json:"response,omitempty"`
	// RateLimit caps accepted requests per second (0: none), with bursts of
	// twice that; over it 429 with Retry-After.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// DedupWindow is how long a provider delivery id is remembered.
	DedupWindow Duration `json:"dedup_window"`
	// HeartbeatEvery, when set, expects a request at least that often:
	// hookd.alert.heartbeat_lost fires when none came.
	HeartbeatEvery Duration  `json:"heartbeat_every,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`

	// Kept by the store.
	LastRequestAt *time.Time `json:"last_request_at,omitempty"`
	Accepted      int64      `json:"accepted"`
	Rejected      int64      `json:"rejected"`
}

// SourceUpdate holds the fields to change; nil means unchanged.
type SourceUpdate struct {
	Description    *string          `json:"description"`
	Verifier       *SourceVerifier  `json:"verifier"`
	ContentTypes   *[]string        `json:"content_types"`
	MaxBodyBytes   *int64           `json:"max_body_bytes"`
	Response       **SourceResponse `json:"response"`
	RateLimit      *float64         `json:"rate_limit"`
	DedupWindow    *Duration        `json:"dedup_window"`
	HeartbeatEvery *Duration        `json:"heartbeat_every"`
}

// Apply copies the set fields of u onto s.
func (u *SourceUpdate) Apply(s *Source) {
	if u.Description != nil {
		s.Description = *u.Description
	}
	if u.Verifier != nil {
		secrets := s.Verifier.Secrets
		s.Verifier = *u.Verifier
		if s.Verifier.Secrets == nil {
			s.Verifier.Secrets = secrets // a verifier change without secrets keeps them
		}
	}
	if u.ContentTypes != nil {
		s.ContentTypes = *u.ContentTypes
	}
	if u.MaxBodyBytes != nil {
		s.MaxBodyBytes = *u.MaxBodyBytes
	}
	if u.Response != nil {
		s.Response = *u.Response
	}
	if u.RateLimit != nil {
		s.RateLimit = *u.RateLimit
	}
	if u.DedupWindow != nil {
		s.DedupWindow = *u.DedupWindow
	}
	if u.HeartbeatEvery != nil {
		s.HeartbeatEvery = *u.HeartbeatEvery
	}
}

// ST2SourceName is the source name kept for StackStorm's generic webhook,
// POST /v1/webhooks/st2, so that StackStorm senders can be repointed. No
// source may take it, whatever the letter case.
const ST2SourceName = "st2"

// NormalizeSourceName trims the slashes around a source name: "/ci",
// "ci/" and "ci" are one source.
func NormalizeSourceName(name string) string { return strings.Trim(name, "/") }

var sourceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*$`)

// ValidateSourceName returns EINVALID unless name (normalized) is
// slash-separated parts of [a-zA-Z0-9_.-], at most 200 characters.
func ValidateSourceName(name string) error {
	if len(name) == 0 || len(name) > 200 || !sourceNameRE.MatchString(name) {
		return Errorf(EINVALID, "Invalid source name %q: use slash-separated parts of letters, digits, '_', '.' and '-'.", name)
	}
	return nil
}

// SetDefaults fills unset settings.
func (s *Source) SetDefaults() {
	s.Name = NormalizeSourceName(s.Name)
	if len(s.ContentTypes) == 0 {
		s.ContentTypes = []string{ContentJSON, ContentForm, ContentText}
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultSourceMaxBody
	}
	if s.DedupWindow == 0 {
		s.DedupWindow = Duration(DefaultDedupWindow)
	}
}

// Validate checks everything but the verifier's own settings (the
// signature package checks those).
func (s *Source) Validate() error {
	if err := ValidateSourceName(s.Name); err != nil {
		return err
	}
	if len(s.Description) > 2000 {
		return Errorf(EINVALID, "Description must be at most 2000 characters.")
	}
	if s.Verifier.Type == "" {
		return Errorf(EINVALID, "A source needs a verifier; choose \"none\" explicitly to accept unsigned requests.")
	}
	if len(s.ContentTypes) == 0 {
		return Errorf(EINVALID, "content_types must list at least one of json, form, text.")
	}
	for _, c := range s.ContentTypes {
		if c != ContentJSON && c != ContentForm && c != ContentText {
			return Errorf(EINVALID, "Unknown content type %q: use json, form or text.", c)
		}
	}
	if s.MaxBodyBytes < 1 || s.MaxBodyBytes > MaxSourceMaxBody {
		return Errorf(EINVALID, "max_body_bytes must be between 1 and %d.", MaxSourceMaxBody)
	}
	if r := s.Response; r != nil && (r.Status < 200 || r.Status > 299 || len(r.Body) > 64<<10 || strings.ContainsAny(r.ContentType, "\r\n")) {
		return Errorf(EINVALID, "response: status must be 2xx, body at most 64 KiB.")
	}
	if !(s.RateLimit >= 0 && s.RateLimit <= MaxRateLimit) {
		return Errorf(EINVALID, "rate_limit must be between 0 (no limit) and %d requests per second.", MaxRateLimit)
	}
	if s.DedupWindow < 0 || time.Duration(s.DedupWindow) > MaxDedupWindow {
		return Errorf(EINVALID, "dedup_window must be between 0s and %s.", MaxDedupWindow)
	}
	if s.HeartbeatEvery < 0 || (s.HeartbeatEvery > 0 && time.Duration(s.HeartbeatEvery) < time.Minute) {
		return Errorf(EINVALID, "heartbeat_every must be 0 (off) or at least 1m.")
	}
	return nil
}

// Git is what hookd reads from a GitHub, GitLab or Bitbucket event so that
// one rule matches any of them (see inbound.NormalizeGit).
type Git struct {
	Provider string `json:"provider"`
	Event    string `json:"event"` // push, tag, pull_request
	Repo     string `json:"repo"`  // owner/name
	Branch   string `json:"branch"`
	Base     string `json:"base"` // pull requests: the target branch
	Tag      string `json:"tag"`
	Ref      string `json:"ref"`
	SHA      string `json:"sha"`
	Action   string `json:"action"`
	Deleted  bool   `json:"deleted"`
	Number   int    `json:"number"`
	Actor    string `json:"actor"`
}

// Trigger is one accepted inbound request (or a generic trigger posted to
// /v1/triggers). Credentials and signature headers are redacted before it
// is stored.
type Trigger struct {
	ID          string              `json:"id"`
	TenantID    string              `json:"tenant"`
	SourceID    string              `json:"source_id,omitempty"`
	Source      string              `json:"source,omitempty"` // source name, or
	Name        string              `json:"name,omitempty"`   // the generic trigger's name
	ReceivedAt  time.Time           `json:"received_at"`
	Method      string              `json:"method"`
	Headers     map[string]string   `json:"headers"`
	Query       map[string][]string `json:"query"`
	ContentType string              `json:"content_type"`
	// Body is the parsed body: JSON as sent, a form as an object of
	// strings (lists for repeated keys), text as a JSON string.
	Body       json.RawMessage `json:"body"`
	BodySHA256 string          `json:"body_sha256"`
	DeliveryID string          `json:"delivery_id,omitempty"` // the provider's, for de-duplication
	Git        *Git            `json:"git,omitempty"`
	// Processed is when rules were matched (nil: not yet; the runner will).
	Processed *time.Time `json:"processed_at,omitempty"`
	Runs      int        `json:"runs"`
	// Duplicate is set by CreateTrigger when the delivery id was seen
	// within the source's window: nothing was stored.
	Duplicate bool `json:"-"`
}

// Doc returns the document criteria and templates see: {"trigger": {...}}
// with name, source, headers, query, body, git and id.
func (t *Trigger) Doc() map[string]any {
	var body any
	_ = json.Unmarshal(t.Body, &body)
	headers := make(map[string]any, len(t.Headers))
	for k, v := range t.Headers {
		headers[k] = v
	}
	query := make(map[string]any, len(t.Query))
	for k, v := range t.Query {
		if len(v) == 1 {
			query[k] = v[0]
		} else {
			list := make([]any, len(v))
			for i, s := range v {
				list[i] = s
			}
			query[k] = list
		}
	}
	var git any
	if t.Git != nil {
		b, _ := json.Marshal(t.Git)
		_ = json.Unmarshal(b, &git)
	}
	name := t.Name
	if name == "" {
		name = t.Source
	}
	return map[string]any{"trigger": map[string]any{
		"id": t.ID, "name": name, "source": t.Source, "headers": headers, "query": query, "body": body, "git": git,
		"delivery_id": t.DeliveryID, "received_at": t.ReceivedAt.UTC().Format(time.RFC3339Nano),
	}}
}

// QueryOf copies a URL query for a Trigger.
func QueryOf(v url.Values) map[string][]string {
	out := make(map[string][]string, len(v))
	for k, list := range v {
		out[k] = append([]string(nil), list...)
	}
	return out
}

// TriggerFilter selects triggers of one tenant; empty fields match all.
type TriggerFilter struct {
	TenantID string
	SourceID string
	Name     string
	Page
}

// Action types.
const (
	ActionPublish = "publish"
	ActionForward = "forward"
	ActionCommand = "command"
)

// Action is what a rule does when it matches. String fields and Data are
// templates over the trigger document ({{ trigger.body.x }}).
type Action struct {
	Type string `json:"type"`

	// publish
	EventType string          `json:"event_type,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"` // default: the trigger body

	// forward: the request's body, the named headers and Headers, to URL,
	// retried per RetrySchedule (default: 0s, 5s, 30s, 2m, 10m, 30m, 1h).
	URL            string            `json:"url,omitempty"`
	ForwardHeaders []string          `json:"forward_headers,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	RetrySchedule  []Duration        `json:"retry_schedule,omitempty"`

	// command: Command[0] is the program, the rest its arguments; with
	// Shell the single string Command[0] is run by /bin/sh -c.
	Command     []string          `json:"command,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Stdin       string            `json:"stdin,omitempty"`
	Shell       bool              `json:"shell,omitempty"`
	Dir         string            `json:"dir,omitempty"`
	Concurrency int               `json:"concurrency,omitempty"` // runs of this rule at once on one node; default 1

	Timeout Duration `json:"timeout,omitempty"` // forward and command; default 30s
}

// GitMatch makes a rule listen to normalized git events of any provider.
type GitMatch struct {
	Event    string `json:"event,omitempty"` // push, tag, pull_request
	Repo     string `json:"repo,omitempty"`  // owner/name
	Branch   string `json:"branch,omitempty"`
	Provider string `json:"provider,omitempty"`
}

// Rule matches triggers and runs an action. It listens to a source, to a
// generic trigger name, or to git events (optionally also a source).
type Rule struct {
	ID          string          `json:"id"`
	TenantID    string          `json:"tenant"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Enabled     bool            `json:"enabled"`
	Source      string          `json:"source,omitempty"`  // source name
	Trigger     string          `json:"trigger,omitempty"` // generic trigger name
	Git         *GitMatch       `json:"git,omitempty"`
	Criteria    json.RawMessage `json:"criteria,omitempty"`
	Action      Action          `json:"action"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// RuleUpdate holds the fields to change; nil means unchanged.
type RuleUpdate struct {
	Description *string          `json:"description"`
	Enabled     *bool            `json:"enabled"`
	Source      *string          `json:"source"`
	Trigger     *string          `json:"trigger"`
	Git         **GitMatch       `json:"git"`
	Criteria    *json.RawMessage `json:"criteria"`
	Action      *Action          `json:"action"`
}

// Apply copies the set fields of u onto r.
func (u *RuleUpdate) Apply(r *Rule) {
	if u.Description != nil {
		r.Description = *u.Description
	}
	if u.Enabled != nil {
		r.Enabled = *u.Enabled
	}
	if u.Source != nil {
		r.Source = NormalizeSourceName(*u.Source)
	}
	if u.Trigger != nil {
		r.Trigger = *u.Trigger
	}
	if u.Git != nil {
		r.Git = *u.Git
	}
	if u.Criteria != nil {
		r.Criteria = *u.Criteria
	}
	if u.Action != nil {
		r.Action = *u.Action
	}
}

// Run states.
const (
	RunQueued    = "queued"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
)

// RunResult is what an action did.
type RunResult struct {
	EventID    string  `json:"event_id,omitempty"`    // publish
	StatusCode int     `json:"status_code,omitempty"` // forward
	ExitCode   *int    `json:"exit_code,omitempty"`   // command
	Output     string  `json:"output,omitempty"`      // command output or response body (truncated)
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Run is one rule match: the action with its parameters rendered from the
// trigger when it matched, run (and for forward retried) by the runner.
type Run struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant"`
	RuleID     string     `json:"rule_id"`
	RuleName   string     `json:"rule"`
	TriggerID  string     `json:"trigger_id"`
	Status     string     `json:"status"`
	Action     Action     `json:"action"` // rendered
	Attempts   int        `json:"attempts"`
	NextAt     *time.Time `json:"next_attempt_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	Result     *RunResult `json:"result,omitempty"`
	LeaseOwner string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// RunFilter selects runs of one tenant; empty fields match all.
type RunFilter struct {
	TenantID  string
	RuleID    string
	TriggerID string
	Status    string
	Page
}

// RunUpdate is the outcome of one execution of a leased run: Status is
// succeeded, failed, or queued again with NextAt (a forward to retry).
type RunUpdate struct {
	ID     string
	Owner  string // must still hold the lease, or nothing is written
	Status string
	NextAt time.Time
	Result *RunResult
	At     time.Time
	// Stale is set by the store when the lease was lost.
	Stale bool
}

// InboundStore holds the receiving side: sources, triggers, rules, runs.
// Triggers are the durable record of accepted requests; the runner claims
// the unprocessed ones with a lease, matches rules and stores the runs
// with the trigger marked processed in one transaction, so a crash after
// acceptance loses no run.
type InboundStore interface {
	// CreateSource stores s (ID and times set); ECONFLICT if the name is
	// taken (in any tenant), ENOTFOUND if the tenant does not exist.
	// Verifier secrets are sealed with the store's cipher.
	CreateSource(ctx context.Context, s *Source) error
	FindSourceByID(ctx context.Context, tenantID, id string) (*Source, error)
	// FindSourceByName finds a source of any tenant by normalized name.
	FindSourceByName(ctx context.Context, name string) (*Source, error)
	FindSources(ctx context.Context, tenantID string, p Page) ([]*Source, string, error)
	UpdateSource(ctx context.Context, tenantID, id string, upd SourceUpdate) (*Source, error)
	// DeleteSource removes the source; its triggers and runs stay.
	DeleteSource(ctx context.Context, tenantID, id string) error
	// RejectRequest counts a refused request of the source (bad signature,
	// body or content type) and sets its last request time.
	RejectRequest(ctx context.Context, sourceID string, at time.Time) error

	// CreateTrigger stores t (ID set), counts it on its source and sets the
	// source's last request time, in one transaction. When t.DeliveryID
	// repeats one of the same source (or generic name) seen within window,
	// nothing is stored: t is filled from the first and marked Duplicate.
	CreateTrigger(ctx context.Context, t *Trigger, window time.Duration) error
	FindTriggerByID(ctx context.Context, tenantID, id string) (*Trigger, error)
	FindTriggers(ctx context.Context, f TriggerFilter) ([]*Trigger, string, error)
	// ClaimTriggers leases up to limit unprocessed triggers (oldest
	// first) to owner until now+lease; an expired lease is claimable.
	ClaimTriggers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Trigger, error)
	// ProcessTrigger stores runs (queued, due now) for the trigger and
	// marks it processed at now, in one transaction, if owner still holds
	// its lease; otherwise it writes nothing and returns ECONFLICT. A run
	// passed with Status RunFailed (a match whose action could not be
	// prepared) is stored failed and ended at now, with its Result.
	ProcessTrigger(ctx context.Context, triggerID, owner string, runs []*Run, now time.Time) error
	// ReplayTrigger marks a trigger unprocessed again, so its rules are
	// matched anew (as they are now).
	ReplayTrigger(ctx context.Context, tenantID, id string) (*Trigger, error)

	// CreateRule stores r; ECONFLICT if the tenant has a rule of that name.
	CreateRule(ctx context.Context, r *Rule) error
	// FindRule finds a rule by id or by name.
	FindRule(ctx context.Context, tenantID, idOrName string) (*Rule, error)
	FindRules(ctx context.Context, tenantID string, p Page) ([]*Rule, string, error)
	// EnabledRules returns every enabled rule of the tenant.
	EnabledRules(ctx context.Context, tenantID string) ([]*Rule, error)
	UpdateRule(ctx context.Context, tenantID, idOrName string, upd RuleUpdate) (*Rule, error)
	DeleteRule(ctx context.Context, tenantID, idOrName string) error

	// ClaimRuns leases up to limit runs that are queued and due at now (or
	// running with an expired lease) to owner until now+lease, setting
	// them running and counting the attempt.
	ClaimRuns(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Run, error)
	// ExtendRuns renews the leases owner holds on ids until until.
	ExtendRuns(ctx context.Context, owner string, ids []string, until time.Time) error
	// CompleteRuns records outcomes in one transaction; an update whose
	// owner lost the lease is marked Stale and writes nothing.
	CompleteRuns(ctx context.Context, updates []*RunUpdate) error
	FindRunByID(ctx context.Context, tenantID, id string) (*Run, error)
	FindRuns(ctx context.Context, f RunFilter) ([]*Run, string, error)
	// SilentSources returns sources with a heartbeat whose last request (or
	// creation) is older than their HeartbeatEvery at now.
	SilentSources(ctx context.Context, now time.Time) ([]*Source, error)
	// PurgeTriggers deletes, oldest first, up to limit triggers received
	// before before that are done with (processed, every run succeeded or
	// failed), together with their runs, in one short transaction, and
	// returns how many of each. A trigger is also the memory of its
	// delivery id for de-duplication: callers keep triggers at least as
	// long as the longest window (MaxDedupWindow).
	PurgeTriggers(ctx context.Context, before time.Time, limit int) (triggers, runs int, err error)
}
