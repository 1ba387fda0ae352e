package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	hookdhttp "github.com/hookd/hookd/http"
)

func publish(typ string) map[string]any { return map[string]any{"type": "publish", "event_type": typ} }

// Rules are checked when saved: their name, what they listen to, criteria
// (the error names the path) and action.
func TestRuleValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "ci", "verifier": map[string]any{"type": "none"}})
	e.want(t, 201, e.other, "POST", "/v1/tenants/beta/sources", map[string]any{"name": "beta-src", "verifier": map[string]any{"type": "none"}})
	crit := func(c string) json.RawMessage { return json.RawMessage(c) }
	cases := []struct {
		name string
		body map[string]any
		want string
	}{
		{"listens to nothing", map[string]any{"name": "r", "action": publish("a.b")}, "exactly one of source, trigger and git"},
		{"source and trigger", map[string]any{"name": "r", "source": "ci", "trigger": "t", "action": publish("a.b")}, "exactly one"},
		{"trigger and git", map[string]any{"name": "r", "trigger": "t", "git": map[string]any{}, "action": publish("a.b")}, "exactly one"},
		{"unknown source", map[string]any{"name": "r", "source": "nope", "action": publish("a.b")}, `no source \"nope\"`},
		{"another tenant's source", map[string]any{"name": "r", "source": "beta-src", "action": publish("a.b")}, `no source \"beta-src\"`},
		{"bad trigger name", map[string]any{"name": "r", "trigger": "a b", "action": publish("a.b")}, "Invalid trigger name"},
		{"git event", map[string]any{"name": "r", "git": map[string]any{"event": "commit"}, "action": publish("a.b")}, "git.event"},
		{"git provider", map[string]any{"name": "r", "git": map[string]any{"provider": "gitea"}, "action": publish("a.b")}, "git.provider"},
		{"unknown operator", map[string]any{"name": "r", "source": "ci", "action": publish("a.b"),
			"criteria": crit(`{"trigger.body.ref": {"type": "eqals", "pattern": "x"}}`)}, `trigger.body.ref: unknown operator \"eqals\"`},
		{"pattern type", map[string]any{"name": "r", "source": "ci", "action": publish("a.b"),
			"criteria": crit(`{"trigger.body.amount": {"type": "lt", "pattern": "x"}}`)}, "trigger.body.amount: lessthan: pattern must be a number"},
		{"criteria not an object", map[string]any{"name": "r", "source": "ci", "action": publish("a.b"), "criteria": crit(`[1]`)}, "criteria"},
		{"no action", map[string]any{"name": "r", "source": "ci"}, "action.type"},
		{"action settings", map[string]any{"name": "r", "source": "ci", "action": map[string]any{"type": "publish", "event_type": "a.b", "url": "https://x"}}, "action.url"},
		{"action template", map[string]any{"name": "r", "source": "ci", "action": publish("{{ trigger.body.x")}, "action.event_type"},
		{"command not allowed", map[string]any{"name": "r", "source": "ci", "action": map[string]any{"type": "command", "command": []string{"true"}}}, "command actions are disabled"},
		{"bad name", map[string]any{"name": "a b", "source": "ci", "action": publish("a.b")}, "Invalid rule name"},
		{"id-like name", map[string]any{"name": "rul_x", "source": "ci", "action": publish("a.b")}, "Invalid rule name"},
		{"unknown field", map[string]any{"name": "r", "source": "ci", "action": publish("a.b"), "when": 1}, "Unknown field"},
	}
	for _, c := range cases {
		r := e.call(t, e.admin, "POST", "/v1/tenants/acme/rules", c.body)
		if r.status != 400 || errorCode(t, r.body) != "invalid" || !strings.Contains(string(r.raw), c.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", c.name, r.status, r.raw, c.want)
		}
	}
	if n := len(items(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/rules", nil))); n != 0 {
		t.Fatalf("%d rules stored by refused creates", n)
	}
	for _, body := range []map[string]any{
		{"name": "on-source", "source": "/ci/", "action": publish("a.b")},
		{"name": "on-trigger", "trigger": "mypack.mytrigger", "action": publish("a.b")},
		{"name": "on-git", "git": map[string]any{"event": "push", "repo": "acme/api", "branch": "main"}, "action": publish("a.b")},
		{"name": "on-git-of-ci", "git": map[string]any{"provider": "github"}, "source": "ci", "enabled": false, "action": publish("a.b")},
	} {
		got := e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/rules", body)
		if got["name"] != body["name"] || (body["enabled"] == nil) != (got["enabled"] == true) || !strings.HasPrefix(got["id"].(string), "rul_") {
			t.Errorf("created %v", got)
		}
		if body["name"] == "on-source" && got["source"] != "ci" {
			t.Errorf("source name not normalized: %v", got["source"])
		}
	}
	e.want(t, 409, e.admin, "POST", "/v1/tenants/acme/rules", map[string]any{"name": "on-source", "source": "ci", "action": publish("a.b")})
	e.want(t, 403, e.viewer, "POST", "/v1/tenants/acme/rules", map[string]any{"name": "v", "source": "ci", "action": publish("a.b")})
	// Command actions with the operator's permission.
	ce := newEnv(t, func(c *hookdhttp.Config) { c.AllowCommands = true })
	ce.source(t, map[string]any{"name": "ci", "verifier": map[string]any{"type": "none"}})
	ce.want(t, 201, ce.admin, "POST", "/v1/tenants/acme/rules", map[string]any{"name": "cmd", "source": "ci",
		"action": map[string]any{"type": "command", "command": []string{"/bin/echo", "{{ trigger.body.ref }}"}}})
}

func TestRuleCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "ci", "verifier": map[string]any{"type": "none"}})
	created := e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/rules", map[string]any{"name": "deploy", "description": "d", "source": "ci",
		"criteria": json.RawMessage(`{"trigger.body.ref":{"type":"eq","pattern":"refs/heads/main"}}`), "action": publish("ci.pushed")})
	id := created["id"].(string)
	for _, p := range []string{"deploy", id} {
		if got := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/rules/"+p, nil); got["id"] != id || got["criteria"] == nil {
			t.Errorf("GET %s = %v", p, got)
		}
		e.want(t, 404, e.other, "GET", "/v1/tenants/beta/rules/"+p, nil)
	}
	if list := items(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/rules", nil)); len(list) != 1 || list[0]["name"] != "deploy" {
		t.Errorf("list = %v", list)
	}
	upd := e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/rules/deploy", map[string]any{"enabled": false, "criteria": nil})
	if upd["enabled"] != false || upd["criteria"] != nil || upd["description"] != "d" || upd["source"] != "ci" {
		t.Errorf("patched = %v", upd)
	}
	// Switching what it listens to: the old one must be cleared.
	r := e.call(t, e.admin, "PATCH", "/v1/tenants/acme/rules/deploy", map[string]any{"trigger": "t"})
	if r.status != 400 || !strings.Contains(string(r.raw), "exactly one") {
		t.Errorf("source and trigger = %d %s", r.status, r.raw)
	}
	upd = e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/rules/"+id, map[string]any{"trigger": "t", "source": ""})
	if upd["trigger"] != "t" || upd["source"] != nil {
		t.Errorf("patched = %v", upd)
	}
	upd = e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/rules/deploy", map[string]any{"trigger": "", "git": map[string]any{"event": "tag"}})
	if upd["git"].(map[string]any)["event"] != "tag" {
		t.Errorf("patched = %v", upd)
	}
	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"git": nil}, "exactly one"}, // then it listens to nothing
		{map[string]any{"git": map[string]any{"event": "x"}}, "git.event"},
		{map[string]any{"git": map[string]any{"repos": "x"}}, "Unknown field"},
		{map[string]any{"criteria": map[string]any{"a": map[string]any{"type": "nope"}}}, "a: unknown operator"},
		{map[string]any{"action": map[string]any{"type": "forward"}}, "action.url"},
		{map[string]any{"name": "renamed"}, "Unknown field"},
	} {
		r := e.call(t, e.admin, "PATCH", "/v1/tenants/acme/rules/deploy", c.body)
		if r.status != 400 || !strings.Contains(string(r.raw), c.want) {
			t.Errorf("PATCH %v = %d %s, want 400 naming %q", c.body, r.status, r.raw, c.want)
		}
	}
	e.want(t, 403, e.viewer, "PATCH", "/v1/tenants/acme/rules/deploy", map[string]any{"enabled": true})
	e.want(t, 404, e.admin, "PATCH", "/v1/tenants/acme/rules/nope", map[string]any{"enabled": true})
	e.want(t, 403, e.viewer, "DELETE", "/v1/tenants/acme/rules/deploy", nil)
	e.want(t, 204, e.admin, "DELETE", "/v1/tenants/acme/rules/deploy", nil)
	e.want(t, 404, e.admin, "GET", "/v1/tenants/acme/rules/"+id, nil)
	e.want(t, 404, e.admin, "DELETE", "/v1/tenants/acme/rules/deploy", nil)
}

// rules/test explains, criterion by criterion, why a trigger matches or
// not; for a stored rule also whether it listens, is enabled, would fire,
// and the action it would run.
func TestRuleTest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.source(t, map[string]any{"name": "ci/github", "verifier": map[string]any{"type": "none"}})
	e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/rules", map[string]any{"name": "deploy", "source": "ci/github",
		"criteria": json.RawMessage(`{"trigger.body.ref":{"type":"equals","pattern":"refs/heads/main"},
			"trigger.headers.x-github-event":{"type":"eq","pattern":"push"},
			"trigger.body.id":{"type":"eq","pattern":12345678901234567891}}`),
		"action": map[string]any{"type": "publish", "event_type": "deploy.{{ trigger.body.repo }}",
			"data": json.RawMessage(`{"sha":"{{ trigger.body.after }}","by":"{{ trigger.headers.x-sender | default('nobody') }}"}`)}})
	trigger := func(ref string) map[string]any {
		return map[string]any{"source": "/ci/github", "headers": map[string]any{"X-GitHub-Event": "push"},
			"body": json.RawMessage(`{"ref":"` + ref + `","repo":"api","after":"abc","id":12345678901234567891}`)}
	}

	// Criteria of one's own.
	got := e.want(t, 200, e.viewer, "POST", "/v1/tenants/acme/rules/test", map[string]any{
		"criteria": json.RawMessage(`{"trigger.body.ref":{"type":"startswith","pattern":"refs/tags/"},"trigger.query.page":{"type":"eq","pattern":"2"}}`),
		"trigger":  map[string]any{"body": map[string]any{"ref": "refs/heads/dev"}, "query": map[string]any{"page": "2", "tag": []string{"a", "b"}}}})
	crits := got["criteria"].([]any)
	if got["matched"] != false || len(crits) != 2 || got["listens"] != nil || got["action"] != nil {
		t.Fatalf("criteria test = %v", got)
	}
	ref := crits[0].(map[string]any)
	if ref["path"] != "trigger.body.ref" || ref["type"] != "startswith" || ref["pattern"] != "refs/tags/" || ref["held"] != false ||
		ref["found"] != true || ref["value"] != "refs/heads/dev" {
		t.Errorf("ref criterion = %v", ref)
	}
	if q := crits[1].(map[string]any); q["held"] != true {
		t.Errorf("query criterion = %v", q)
	}

	// A stored rule that matches: the action as it would run.
	r := e.call(t, e.viewer, "POST", "/v1/tenants/acme/rules/test", map[string]any{"rule": "deploy", "trigger": trigger("refs/heads/main")})
	if r.status != 200 || r.body["matched"] != true || r.body["listens"] != true || r.body["enabled"] != true || r.body["fires"] != true {
		t.Fatalf("matching rule = %d %s", r.status, r.raw)
	}
	action := r.body["action"].(map[string]any)
	if action["event_type"] != "deploy.api" || !strings.Contains(string(r.raw), `"data":{"sha":"abc","by":"nobody"}`) {
		t.Errorf("rendered action = %s", r.raw)
	}
	if !strings.Contains(string(r.raw), `"value":12345678901234567891`) {
		t.Errorf("a large number lost digits: %s", r.raw)
	}
	// One that does not: which criterion failed and what it saw.
	got = e.want(t, 200, e.viewer, "POST", "/v1/tenants/acme/rules/test", map[string]any{"rule": "deploy", "trigger": trigger("refs/heads/dev")})
	if got["matched"] != false || got["fires"] != false || got["action"] != nil {
		t.Errorf("non-matching rule = %v", got)
	}
	for _, c := range got["criteria"].([]any) {
		c := c.(map[string]any)
		if (c["path"] == "trigger.body.ref") == (c["held"] == true) {
			t.Errorf("criterion %v", c)
		}
	}
	// Another source: matched, but the rule does not listen.
	other := trigger("refs/heads/main")
	other["source"] = "elsewhere"
	got = e.want(t, 200, e.viewer, "POST", "/v1/tenants/acme/rules/test", map[string]any{"rule": "deploy", "trigger": other})
	if got["matched"] != true || got["listens"] != false || got["fires"] != false {
		t.Errorf("other source = %v", got)
	}
	// Disabled: it would not fire.
	e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/rules/deploy", map[string]any{"enabled": false})
	got = e.want(t, 200, e.viewer, "POST", "/v1/tenants/acme/rules/test", map[string]any{"rule": "deploy", "trigger": trigger("refs/heads/main")})
	if got["enabled"] != false || got["fires"] != false || got["matched"] != true {
		t.Errorf("disabled = %v", got)
	}
	// A stored trigger can be pasted as it is.
	hook := e.hook(t, "POST", "ci/github", []byte(`{"ref":"refs/heads/main","repo":"web","after":"def","id":12345678901234567891}`),
		map[string][]string{"X-Github-Event": {"push"}})
	stored := e.call(t, e.viewer, "GET", "/v1/tenants/acme/triggers/"+hook.body["id"].(string), nil)
	r = e.call(t, e.viewer, "POST", "/v1/tenants/acme/rules/test", `{"rule":"deploy","trigger":`+string(stored.raw)+`}`)
	if r.status != 200 || r.body["matched"] != true || r.body["listens"] != true || r.body["action"].(map[string]any)["event_type"] != "deploy.web" {
		t.Errorf("pasted trigger = %d %s", r.status, r.raw)
	}

	for _, c := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"neither", map[string]any{"trigger": map[string]any{}}, 400, "either rule"},
		{"both", map[string]any{"rule": "deploy", "criteria": map[string]any{}, "trigger": map[string]any{}}, 400, "either rule"},
		{"no trigger", map[string]any{"rule": "deploy"}, 400, "trigger is required"},
		{"unknown rule", map[string]any{"rule": "nope", "trigger": map[string]any{}}, 404, "Rule not found"},
		{"bad criteria", map[string]any{"criteria": map[string]any{"trigger.body.x": map[string]any{"type": "matchregex", "pattern": "("}}, "trigger": map[string]any{}}, 400, "trigger.body.x"},
		{"bad query", map[string]any{"criteria": map[string]any{}, "trigger": map[string]any{"query": map[string]any{"a": 1}}}, 400, "query"},
		{"unknown trigger field", map[string]any{"criteria": map[string]any{}, "trigger": map[string]any{"bodyy": 1}}, 400, "Unknown field"},
	} {
		r := e.call(t, e.viewer, "POST", "/v1/tenants/acme/rules/test", c.body)
		if r.status != c.status || !strings.Contains(string(r.raw), c.want) {
			t.Errorf("%s: %d %s, want %d naming %q", c.name, r.status, r.raw, c.status, c.want)
		}
	}
	e.want(t, 404, e.other, "POST", "/v1/tenants/acme/rules/test", map[string]any{"criteria": map[string]any{}, "trigger": map[string]any{}})
}
