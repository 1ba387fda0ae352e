package action

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	sched := func(n int, d time.Duration) []hookd.Duration {
		s := make([]hookd.Duration, n)
		for i := range s {
			s[i] = hookd.Duration(d)
		}
		return s
	}
	tests := []struct {
		name  string
		a     hookd.Action
		allow bool
		want  string // "" valid, else a part of the message
	}{
		{"publish", hookd.Action{Type: "publish", EventType: "build.started"}, false, ""},
		{"publish data", hookd.Action{Type: "publish", EventType: "build.started", Data: json.RawMessage(`{"sha":"{{ trigger.git.sha }}"}`)}, false, ""},
		{"publish templated type", hookd.Action{Type: "publish", EventType: "git.{{ trigger.git.event }}"}, false, ""},
		{"no type", hookd.Action{}, false, "action.type: required"},
		{"unknown type", hookd.Action{Type: "email"}, false, `action.type: unknown type "email"`},
		{"publish no event type", hookd.Action{Type: "publish"}, false, "action.event_type: required"},
		{"publish bad event type", hookd.Action{Type: "publish", EventType: "a b"}, false, "action.event_type: Invalid event type"},
		{"publish reserved", hookd.Action{Type: "publish", EventType: "hookd.endpoint.created"}, false, "action.event_type: \"hookd.endpoint.created\" is reserved"},
		{"publish bad template", hookd.Action{Type: "publish", EventType: "x.{{ trigger.body"}, false, "action.event_type: column 3"},
		{"publish bad data", hookd.Action{Type: "publish", EventType: "x", Data: json.RawMessage(`{"a": "{{ x | nope }}"}`)}, false, `action.data.a: column 8: unknown filter "nope"`},
		{"publish data not json", hookd.Action{Type: "publish", EventType: "x", Data: json.RawMessage(`{`)}, false, "action.data"},
		{"publish with url", hookd.Action{Type: "publish", EventType: "x", URL: "https://a.example"}, false, "action.url: only forward actions take it, not publish"},
		{"publish with timeout", hookd.Action{Type: "publish", EventType: "x", Timeout: hookd.Duration(time.Second)}, false, "action.timeout: only forward and command"},
		{"forward", hookd.Action{Type: "forward", URL: "https://ci.example.com/hook", ForwardHeaders: []string{"X-GitHub-Event"}, Headers: map[string]string{"X-Build": "{{ trigger.git.sha }}"}}, false, ""},
		{"forward templated url", hookd.Action{Type: "forward", URL: "{{ trigger.body.callback }}"}, false, ""},
		{"forward no url", hookd.Action{Type: "forward"}, false, "action.url: required"},
		{"forward relative", hookd.Action{Type: "forward", URL: "/hook"}, false, "action.url: \"/hook\" is not an absolute http or https URL"},
		{"forward ftp", hookd.Action{Type: "forward", URL: "ftp://a.example/x"}, false, "action.url:"},
		{"forward credentials", hookd.Action{Type: "forward", URL: "https://u:p@a.example/x"}, false, "must not contain credentials"},
		{"forward bad url template", hookd.Action{Type: "forward", URL: "https://a.example/{{ }}"}, false, "action.url: column"},
		{"forward bad header name", hookd.Action{Type: "forward", URL: "https://a.example", Headers: map[string]string{"X Y": "1"}}, false, `action.headers["X Y"]: "X Y" is not a valid header name`},
		{"forward reserved header", hookd.Action{Type: "forward", URL: "https://a.example", ForwardHeaders: []string{"host"}}, false, "action.forward_headers[0]: host is set by hookd"},
		{"forward header newline", hookd.Action{Type: "forward", URL: "https://a.example", Headers: map[string]string{"X": "a\nb"}}, false, "line breaks"},
		{"forward bad header template", hookd.Action{Type: "forward", URL: "https://a.example", Headers: map[string]string{"X": "{{ a"}}, false, `action.headers["X"]: column 1`},
		{"forward retries", hookd.Action{Type: "forward", URL: "https://a.example", RetrySchedule: sched(20, 24*time.Hour)}, false, ""},
		{"forward too many retries", hookd.Action{Type: "forward", URL: "https://a.example", RetrySchedule: sched(21, time.Second)}, false, "action.retry_schedule: at most 20"},
		{"forward retry too long", hookd.Action{Type: "forward", URL: "https://a.example", RetrySchedule: sched(2, 25*time.Hour)}, false, "action.retry_schedule[0]"},
		{"forward retry negative", hookd.Action{Type: "forward", URL: "https://a.example", RetrySchedule: sched(1, -time.Second)}, false, "action.retry_schedule[0]"},
		{"forward timeout", hookd.Action{Type: "forward", URL: "https://a.example", Timeout: hookd.Duration(time.Hour)}, false, ""},
		{"forward timeout too long", hookd.Action{Type: "forward", URL: "https://a.example", Timeout: hookd.Duration(time.Hour + 1)}, false, "action.timeout"},
		{"forward with command", hookd.Action{Type: "forward", URL: "https://a.example", Command: []string{"x"}}, false, "action.command: only command actions"},
		{"command refused", hookd.Action{Type: "command", Command: []string{"/bin/echo"}}, false, "command actions are disabled"},
		{"command", hookd.Action{Type: "command", Command: []string{"/bin/echo", "{{ trigger.git.branch }}"}, Env: map[string]string{"SHA": "{{ trigger.git.sha }}"}, Stdin: "{{ trigger.body | tojson }}", Concurrency: 64}, true, ""},
		{"command shell", hookd.Action{Type: "command", Command: []string{`deploy "$BRANCH"`}, Shell: true, Env: map[string]string{"BRANCH": "{{ trigger.git.branch }}"}}, true, ""},
		{"command empty", hookd.Action{Type: "command"}, true, "action.command: required"},
		{"command empty program", hookd.Action{Type: "command", Command: []string{""}}, true, "action.command: required"},
		{"command shell two", hookd.Action{Type: "command", Command: []string{"a", "b"}, Shell: true}, true, "exactly one string"},
		{"command shell template", hookd.Action{Type: "command", Command: []string{"deploy {{ trigger.git.branch }}"}, Shell: true}, true, "cannot hold {{ }} placeholders"},
		{"command program template", hookd.Action{Type: "command", Command: []string{"{{ trigger.body.cmd }}"}}, true, "action.command[0]: the program cannot be a template"},
		{"command bad arg template", hookd.Action{Type: "command", Command: []string{"echo", "{{ x | upper(1) }}"}}, true, "action.command[1]:"},
		{"command nul", hookd.Action{Type: "command", Command: []string{"echo", "a\x00"}}, true, "NUL"},
		{"command bad env", hookd.Action{Type: "command", Command: []string{"echo"}, Env: map[string]string{"1X": "a"}}, true, `action.env["1X"]`},
		{"command bad env template", hookd.Action{Type: "command", Command: []string{"echo"}, Env: map[string]string{"X": "{{"}}, true, `action.env["X"]: column 1`},
		{"command bad stdin", hookd.Action{Type: "command", Command: []string{"echo"}, Stdin: "{{ a b }}"}, true, "action.stdin:"},
		{"command bad dir", hookd.Action{Type: "command", Command: []string{"echo"}, Dir: "/srv/{{"}, true, "action.dir:"},
		{"command concurrency", hookd.Action{Type: "command", Command: []string{"echo"}, Concurrency: 65}, true, "action.concurrency"},
		{"command negative concurrency", hookd.Action{Type: "command", Command: []string{"echo"}, Concurrency: -1}, true, "action.concurrency"},
		{"command timeout", hookd.Action{Type: "command", Command: []string{"echo"}, Timeout: -1}, true, "action.timeout"},
		{"command with event type", hookd.Action{Type: "command", Command: []string{"echo"}, EventType: "x"}, true, "action.event_type: only publish actions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.a, tt.allow)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			if hookd.ErrorCode(err) != hookd.EINVALID {
				t.Errorf("code %q, want invalid", hookd.ErrorCode(err))
			}
			if msg := hookd.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}

func testTrigger() *hookd.Trigger {
	return &hookd.Trigger{
		ID: "trg_1", TenantID: "ten_1", Source: "github", ReceivedAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		Method: "POST", Headers: map[string]string{"X-Github-Event": "push", "Content-Type": "application/json"},
		Query:       map[string][]string{"env": {"prod"}},
		ContentType: "application/json",
		Body:        json.RawMessage(`{"ref":"refs/heads/main","size":3,"id":9007199254740993,"labels":["a","b"],"repo":{"name":"my api"},"ok":true,"nothing":null}`),
		Git:         &hookd.Git{Provider: "github", Event: "push", Repo: "Acme/API", Branch: "main", SHA: "6dcb09b5"},
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	trg := testTrigger()
	doc := DocOf(trg)
	tests := []struct {
		name string
		a    hookd.Action
		want hookd.Action
		err  string
	}{
		{
			name: "publish keeps types",
			a: hookd.Action{Type: "publish", EventType: "git.{{ trigger.git.event }}", Data: json.RawMessage(
				`{"size": "{{ trigger.body.size }}", "labels": "{{ trigger.body.labels }}", "repo": "{{ trigger.body.repo }}", "ok": "{{ trigger.body.ok }}",` +
					` "id": "{{ trigger.body.id }}", "text": "n={{ trigger.body.size }}", "missing": "{{ trigger.body.nope }}", "event": "{{ trigger.headers.x-github-event }}", "n": 1.50}`)},
			want: hookd.Action{Type: "publish", EventType: "git.push", Data: json.RawMessage(
				`{"size":3,"labels":["a","b"],"repo":{"name":"my api"},"ok":true,"id":9007199254740993,"text":"n=3","missing":null,"event":"push","n":1.50}`)},
		},
		{
			name: "publish default data is the body",
			a:    hookd.Action{Type: "publish", EventType: "x"},
			want: hookd.Action{Type: "publish", EventType: "x", Data: json.RawMessage(`{"id":9007199254740993,"labels":["a","b"],"nothing":null,"ok":true,"ref":"refs/heads/main","repo":{"name":"my api"},"size":3}`)},
		},
		{
			name: "publish rendered type invalid",
			a:    hookd.Action{Type: "publish", EventType: "{{ trigger.body.repo.name }}"},
			err:  `action.event_type: Invalid event type "my api"`,
		},
		{
			name: "publish rendered type reserved",
			a:    hookd.Action{Type: "publish", EventType: "hookd.{{ trigger.git.event }}"},
			err:  "reserved",
		},
		{
			name: "forward",
			a: hookd.Action{Type: "forward", URL: "https://ci.example.com/{{ trigger.body.repo.name | urlencode }}?env={{ trigger.query.env }}",
				ForwardHeaders: []string{"X-GitHub-Event"}, Headers: map[string]string{"X-Sha": "{{ trigger.git.sha }}", "X-Size": "{{ trigger.body.size }}"}, Timeout: hookd.Duration(time.Second)},
			want: hookd.Action{Type: "forward", URL: "https://ci.example.com/my%20api?env=prod",
				ForwardHeaders: []string{"X-GitHub-Event"}, Headers: map[string]string{"X-Sha": "6dcb09b5", "X-Size": "3"}, Timeout: hookd.Duration(time.Second)},
		},
		{
			name: "forward rendered url invalid",
			a:    hookd.Action{Type: "forward", URL: "{{ trigger.body.ref }}"},
			err:  `action.url: "refs/heads/main" is not an absolute`,
		},
		{
			name: "command",
			a: hookd.Action{Type: "command", Command: []string{"/bin/deploy", "--branch={{ trigger.git.branch }}", "{{ trigger.body.labels }}"},
				Env: map[string]string{"SIZE": "{{ trigger.body.size }}", "PLAIN": "x"}, Stdin: "{{ trigger.body.repo | tojson }}", Dir: "/srv/{{ trigger.git.branch }}", Concurrency: 2},
			want: hookd.Action{Type: "command", Command: []string{"/bin/deploy", "--branch=main", `["a","b"]`},
				Env: map[string]string{"SIZE": "3", "PLAIN": "x"}, Stdin: `{"name":"my api"}`, Dir: "/srv/main", Concurrency: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.a, doc)
			if tt.err != "" {
				if err == nil || hookd.ErrorCode(err) != hookd.EINVALID || !strings.Contains(hookd.ErrorMessage(err), tt.err) {
					t.Fatalf("Render error %v, want EINVALID with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("Render\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
}

// The runner publishes the body byte for byte when the action has no data.
func TestRenderDefaultDataByteExact(t *testing.T) {
	t.Parallel()
	trg := testTrigger()
	got, err := render(hookd.Action{Type: "publish", EventType: "x"}, DocOf(trg), trg.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != string(trg.Body) {
		t.Errorf("data %s, want %s", got.Data, trg.Body)
	}
}

func TestListens(t *testing.T) {
	t.Parallel()
	gh := &hookd.Trigger{Source: "github", Git: &hookd.Git{Provider: "github", Event: "push", Repo: "Acme/API", Branch: "main"}}
	gl := &hookd.Trigger{Source: "gitlab/acme", Git: &hookd.Git{Provider: "gitlab", Event: "push", Repo: "acme/api", Branch: "main"}}
	bb := &hookd.Trigger{Source: "bb", Git: &hookd.Git{Provider: "bitbucket", Event: "pull_request", Repo: "acme/api", Branch: "feature", Base: "main"}}
	plain := &hookd.Trigger{Source: "stripe"}
	generic := &hookd.Trigger{Name: "nightly"}
	tests := []struct {
		name string
		r    hookd.Rule
		t    *hookd.Trigger
		want bool
	}{
		{"source", hookd.Rule{Source: "stripe"}, plain, true},
		{"source with slashes", hookd.Rule{Source: "/gitlab/acme/"}, gl, true},
		{"other source", hookd.Rule{Source: "stripe"}, gh, false},
		{"source not a name", hookd.Rule{Source: "nightly"}, generic, false},
		{"generic name", hookd.Rule{Trigger: "nightly"}, generic, true},
		{"other generic name", hookd.Rule{Trigger: "hourly"}, generic, false},
		{"generic name not a source", hookd.Rule{Trigger: "stripe"}, plain, false},
		{"nothing set", hookd.Rule{}, plain, false},
		{"nothing set generic", hookd.Rule{}, generic, false},
		{"source or trigger", hookd.Rule{Source: "stripe", Trigger: "nightly"}, generic, true},
		{"git any", hookd.Rule{Git: &hookd.GitMatch{}}, gh, true},
		{"git any not git", hookd.Rule{Git: &hookd.GitMatch{}}, plain, false},
		{"git push github", hookd.Rule{Git: &hookd.GitMatch{Event: "push", Repo: "acme/api", Branch: "main"}}, gh, true},
		{"git push gitlab", hookd.Rule{Git: &hookd.GitMatch{Event: "push", Repo: "acme/api", Branch: "main"}}, gl, true},
		{"git push not a pull request", hookd.Rule{Git: &hookd.GitMatch{Event: "push", Repo: "acme/api"}}, bb, false},
		{"git pull request bitbucket", hookd.Rule{Git: &hookd.GitMatch{Event: "pull_request", Repo: "ACME/api"}}, bb, true},
		{"git branch", hookd.Rule{Git: &hookd.GitMatch{Branch: "main"}}, bb, false},
		{"git branch is case-sensitive", hookd.Rule{Git: &hookd.GitMatch{Branch: "Main"}}, gh, false},
		{"git other repo", hookd.Rule{Git: &hookd.GitMatch{Repo: "acme/web"}}, gh, false},
		{"git provider", hookd.Rule{Git: &hookd.GitMatch{Provider: "gitlab"}}, gl, true},
		{"git other provider", hookd.Rule{Git: &hookd.GitMatch{Provider: "gitlab"}}, gh, false},
		{"git and source", hookd.Rule{Source: "github", Git: &hookd.GitMatch{Event: "push"}}, gh, true},
		{"git and other source", hookd.Rule{Source: "github", Git: &hookd.GitMatch{Event: "push"}}, gl, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Listens(&tt.r, tt.t); got != tt.want {
				t.Errorf("Listens = %v, want %v", got, tt.want)
			}
		})
	}
}
