package action

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/inbound"
	"github.com/hookd/hookd/rule"
)

// MaxCriteria bounds a rule's criteria in bytes.
const MaxCriteria = 64 << 10

var (
	ruleNameRE    = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,200}$`)
	triggerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.:/-]{1,200}$`)
)

// ValidateRule checks a rule as it is to be stored: its name, what it
// listens to (exactly one of source, trigger and git, or git and source),
// its criteria (CheckCriteria) and its action (Validate; command actions
// only if allowCommands). Every error is EINVALID.
//
// source checks the source a rule names, when it names one: the API has
// it look the source up in the rule's tenant. With a nil source the name
// must only be a valid source name.
func ValidateRule(r *hookd.Rule, allowCommands bool, source func(name string) error) error {
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
	if src {
		if source != nil {
			if err := source(r.Source); err != nil {
				return err
			}
		} else if hookd.ValidateSourceName(r.Source) != nil {
			return hookd.Errorf(hookd.EINVALID, "source: %q is not a source name.", r.Source)
		}
	}
	if trg {
		if err := ValidateTriggerName(r.Trigger); err != nil {
			return err
		}
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
	if _, err := CheckCriteria(r.Criteria); err != nil {
		return err
	}
	if err := Validate(r.Action, allowCommands); err != nil {
		if hookd.ErrorCode(err) == hookd.EINVALID {
			return err
		}
		return hookd.Errorf(hookd.EINVALID, "action: %s", hookd.ErrorMessage(err))
	}
	return nil
}

// ValidateTriggerName returns EINVALID unless name is a generic trigger
// name: 1..200 of [a-zA-Z0-9_.:/-].
func ValidateTriggerName(name string) error {
	if !triggerNameRE.MatchString(name) {
		return hookd.Errorf(hookd.EINVALID, "Invalid trigger name %q: use 1 to 200 letters, digits, '_', '.', ':', '/' and '-'.", name)
	}
	return nil
}

// CheckCriteria compiles criteria a caller gives, as CompileCriteria does,
// after refusing more than MaxCriteria bytes. Errors are EINVALID.
func CheckCriteria(raw json.RawMessage) (*rule.Criteria, error) {
	if len(raw) > MaxCriteria {
		return nil, hookd.Errorf(hookd.EINVALID, "criteria: at most %d bytes.", MaxCriteria)
	}
	return CompileCriteria(raw)
}
