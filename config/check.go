package config

// The checks the API makes before it stores a resource and that live in
// unexported functions of the http package (which imports this package
// for its apply route, so this package cannot import it). Each one names
// the function it mirrors; keep them in step.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/action"
	"github.com/hookd/hookd/filter"
	"github.com/hookd/hookd/inbound"
	"github.com/hookd/hookd/signature"
)

// st2Name is the source name kept for StackStorm's generic webhook
// (http.st2Name).
const st2Name = "st2"

// secretOverlap is how long a signing secret replaced by a reload keeps
// signing, as a rotation through the API (http.DefaultSecretOverlap).
const secretOverlap = 24 * time.Hour

// placeholderSecret stands in for secrets a file keeps, to check the
// settings of a verifier: it has the form every type accepts.
var placeholderSecret = hookd.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 32))

// validateSecret mirrors http.ValidateSecret: hookd.SecretPrefix and the
// standard base64 (with padding) of 24 to 64 bytes.
func validateSecret(secret string) error {
	b64, ok := strings.CutPrefix(secret, hookd.SecretPrefix)
	ok = ok && len(b64) <= 100 && !strings.ContainsAny(b64, "\r\n")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) < 24 || len(raw) > 64 {
		return hookd.Errorf(hookd.EINVALID, "secret: a secret must be whsec_ followed by the base64 of 24 to 64 random bytes")
	}
	return nil
}

// checkFilter mirrors http.validFilter.
func checkFilter(f json.RawMessage) error {
	if len(f) == 0 {
		return nil
	}
	if len(f) > 16<<10 {
		return hookd.Errorf(hookd.EINVALID, "A filter has at most 16 KiB.")
	}
	_, err := filter.Compile(f)
	return err
}

// checkVerifier mirrors the verifier part of http.validateSource.
func checkVerifier(v hookd.SourceVerifier) error {
	cfg := signature.VerifierConfig{
		Type: v.Type, Secrets: v.Secrets, Header: v.Header, Algorithm: v.Algorithm, Encoding: v.Encoding,
		Prefix: v.Prefix, TimestampHeader: v.TimestampHeader, Tolerance: time.Duration(v.Tolerance), Username: v.Username,
	}
	if _, err := signature.NewVerifier(cfg); err != nil {
		if hookd.ErrorCode(err) == hookd.EINVALID {
			return err
		}
		return hookd.Errorf(hookd.EINVALID, "The verifier settings are invalid.")
	}
	return nil
}

var (
	ruleNameRE    = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,200}$`)   // http.ruleNameRE
	triggerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.:/-]{1,200}$`) // http.triggerNameRE
)

// maxCriteria bounds a rule's criteria in bytes (http.maxCriteria).
const maxCriteria = 64 << 10

// checkRule mirrors http.validateRule but for two things: whether the
// source exists (Plan checks it against the file and the store) and the
// action (checkAction).
func checkRule(r *hookd.Rule) error {
	if !ruleNameRE.MatchString(r.Name) || strings.HasPrefix(r.Name, hookd.PrefixRule+"_") {
		return hookd.Errorf(hookd.EINVALID, "Invalid rule name %q: use 1 to 200 letters, digits, '_', '.' and '-' (not starting with %s_).", r.Name, hookd.PrefixRule)
	}
	if len(r.Description) > 2000 {
		return hookd.Errorf(hookd.EINVALID, "Description must be at most 2000 characters.")
	}
	src, trg, git := r.Source != "", r.Trigger != "", r.Git != nil
	if !(trg && !src && !git || !trg && (src || git)) {
		return hookd.Errorf(hookd.EINVALID, "A rule listens to exactly one of source, trigger and git, or to git events of one source.")
	}
	if src && hookd.ValidateSourceName(r.Source) != nil {
		return hookd.Errorf(hookd.EINVALID, "source: %q is not a source name.", r.Source)
	}
	if trg && !triggerNameRE.MatchString(r.Trigger) {
		return hookd.Errorf(hookd.EINVALID, "Invalid trigger name %q: use 1 to 200 letters, digits, '_', '.', ':', '/' and '-'.", r.Trigger)
	}
	if g := r.Git; g != nil {
		switch g.Event {
		case "", inbound.GitPush, inbound.GitTag, inbound.GitPullRequest:
		default:
			return hookd.Errorf(hookd.EINVALID, "git.event %q is unknown: use push, tag or pull_request (or leave it out for all).", g.Event)
		}
		switch g.Provider {
		case "", inbound.ProviderGitHub, inbound.ProviderGitLab, inbound.ProviderBitbucket:
		default:
			return hookd.Errorf(hookd.EINVALID, "git.provider %q is unknown: use github, gitlab or bitbucket (or leave it out for all).", g.Provider)
		}
	}
	if len(r.Criteria) > maxCriteria {
		return hookd.Errorf(hookd.EINVALID, "criteria: at most %d bytes.", maxCriteria)
	}
	if _, err := action.CompileCriteria(r.Criteria); err != nil {
		return err
	}
	return nil
}

// checkAction is action.Validate with its errors made EINVALID.
func checkAction(a hookd.Action, allowCommands bool) error {
	if err := action.Validate(a, allowCommands); err != nil {
		if hookd.ErrorCode(err) == hookd.EINVALID {
			return err
		}
		return hookd.Errorf(hookd.EINVALID, "action: %s", hookd.ErrorMessage(err))
	}
	return nil
}

// builtinType reports whether name is one of hookd's operational types.
func builtinType(name string) bool {
	for _, t := range hookd.OperationalEventTypes() {
		if t.Name == name {
			return true
		}
	}
	return false
}

// schemaURL is the URL a schema is compiled under; it is never fetched
// (http.schemaURL).
const schemaURL = "https://schema.hookd.invalid/event-type.json"

// noLoader refuses every URL: a schema is compiled from itself and the
// meta-schemas built into the library.
type noLoader struct{}

func (noLoader) Load(string) (any, error) {
	return nil, errors.New("only references inside the schema are allowed")
}

// checkSchema is a short form of http.checkSchema: the schema compiles
// (draft 2020-12 unless $schema names another, references inside it only)
// and the example, if any, satisfies it. The API's messages say more about
// where a schema is wrong; these name the problem.
func checkSchema(t *hookd.EventType) error {
	if len(t.Schema) == 0 {
		return nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(t.Schema))
	if err != nil {
		return hookd.Errorf(hookd.EINVALID, "schema: it must be valid JSON.")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return hookd.Errorf(hookd.EINVALID, "schema: invalid: %s", clipText(strings.ReplaceAll(err.Error(), schemaURL, ""), 300))
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return hookd.Errorf(hookd.EINVALID, "schema: invalid: %s", clipText(strings.ReplaceAll(err.Error(), schemaURL, ""), 300))
	}
	if len(t.Example) > 0 {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(t.Example))
		if err != nil {
			return hookd.Errorf(hookd.EINVALID, "example: it must be valid JSON.")
		}
		if err := sch.Validate(v); err != nil {
			return hookd.Errorf(hookd.EINVALID, "example: it does not match the schema: %s", clipText(strings.ReplaceAll(err.Error(), schemaURL, ""), 300))
		}
	}
	return nil
}
