package action_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/action"
)

func TestValidateRule(t *testing.T) {
	t.Parallel()
	publish := hookd.Action{Type: "publish", EventType: "build.started"}
	command := hookd.Action{Type: "command", Command: []string{"true"}}
	noSource := func(name string) error {
		return hookd.Errorf(hookd.EINVALID, "source: there is no source %q in this tenant.", name)
	}
	cases := []struct {
		name          string
		rule          hookd.Rule
		allowCommands bool
		source        func(string) error
		want          string // "" for no error; else a prefix of the message
	}{
		{"trigger", hookd.Rule{Name: "r", Trigger: "deploy", Action: publish}, false, nil, ""},
		{"source", hookd.Rule{Name: "r", Source: "ci/github", Action: publish}, false, nil, ""},
		{"git of a source", hookd.Rule{Name: "r", Source: "ci", Git: &hookd.GitMatch{Event: "push"}, Action: publish}, false, nil, ""},
		{"bad name", hookd.Rule{Name: "a b", Trigger: "deploy", Action: publish}, false, nil, "Invalid rule name"},
		{"reserved name", hookd.Rule{Name: "rul_x", Trigger: "deploy", Action: publish}, false, nil, "Invalid rule name"},
		{"long description", hookd.Rule{Name: "r", Description: strings.Repeat("x", 2001), Trigger: "deploy", Action: publish}, false, nil, "Description must be"},
		{"listens to nothing", hookd.Rule{Name: "r", Action: publish}, false, nil, "A rule listens to exactly one"},
		{"trigger and source", hookd.Rule{Name: "r", Trigger: "deploy", Source: "ci", Action: publish}, false, nil, "A rule listens to exactly one"},
		{"bad source name", hookd.Rule{Name: "r", Source: "a b", Action: publish}, false, nil, `source: "a b" is not a source name.`},
		{"source the caller refuses", hookd.Rule{Name: "r", Source: "ci", Action: publish}, false, noSource, `source: there is no source "ci" in this tenant.`},
		{"bad trigger name", hookd.Rule{Name: "r", Trigger: "a b", Action: publish}, false, nil, "Invalid trigger name"},
		{"unknown git event", hookd.Rule{Name: "r", Git: &hookd.GitMatch{Event: "fork"}, Action: publish}, false, nil, "git.event"},
		{"unknown git provider", hookd.Rule{Name: "r", Git: &hookd.GitMatch{Provider: "gitea"}, Action: publish}, false, nil, "git.provider"},
		{"criteria too long", hookd.Rule{Name: "r", Trigger: "deploy", Criteria: json.RawMessage(`"` + strings.Repeat("x", action.MaxCriteria) + `"`), Action: publish}, false, nil, "criteria: at most"},
		{"bad criteria", hookd.Rule{Name: "r", Trigger: "deploy", Criteria: json.RawMessage(`{"trigger.x":{"type":"nope"}}`), Action: publish}, false, nil, "criteria"},
		{"bad action", hookd.Rule{Name: "r", Trigger: "deploy", Action: hookd.Action{Type: "nope"}}, false, nil, "action"},
		{"command refused", hookd.Rule{Name: "r", Trigger: "deploy", Action: command}, false, nil, "action"},
		{"command allowed", hookd.Rule{Name: "r", Trigger: "deploy", Action: command}, true, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := action.ValidateRule(&c.rule, c.allowCommands, c.source)
			if c.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if hookd.ErrorCode(err) != hookd.EINVALID || !strings.HasPrefix(hookd.ErrorMessage(err), c.want) {
				t.Fatalf("err = %v, want EINVALID starting %q", err, c.want)
			}
		})
	}
}
