package http_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// ids returns the ids of a list answer's items, in order.
func ids(t *testing.T, body map[string]any) []string {
	t.Helper()
	var out []string
	for _, it := range items(t, body) {
		out = append(out, it["id"].(string))
	}
	return out
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTriggersAndRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ci := e.source(t, map[string]any{"name": "ci", "verifier": map[string]any{"type": "none"}})
	e.source(t, map[string]any{"name": "ops/alerts", "verifier": map[string]any{"type": "none"}})
	rl := e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/rules", map[string]any{"name": "on-ci", "source": "ci", "action": publish("ci.done")})
	post := func(path string) string {
		t.Helper()
		r := e.hook(t, "POST", path, []byte(`{"n":1}`), nil)
		if r.status != 202 {
			t.Fatalf("%s = %d %s", path, r.status, r.raw)
		}
		return r.body["id"].(string)
	}
	c1, a1, c2 := post("ci"), post("ops/alerts"), post("ci")
	g1 := e.want(t, 202, e.admin, "POST", "/v1/triggers", map[string]any{"trigger": "nightly", "payload": map[string]any{}})["id"].(string)
	e.want(t, 202, e.other, "POST", "/v1/triggers", map[string]any{"trigger": "nightly"}) // beta's

	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{g1, c2, a1, c1}},
		{"?source=ci", []string{c2, c1}},
		{"?source=" + ci["id"].(string), []string{c2, c1}},
		{"?source=ops%2Falerts", []string{a1}},
		{"?source=nope", nil},
		{"?name=nightly", []string{g1}},
		{"?limit=2", []string{g1, c2}},
	}
	for _, c := range cases {
		if got := ids(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/triggers"+c.query, nil)); !same(got, c.want) {
			t.Errorf("triggers%s = %v, want %v", c.query, got, c.want)
		}
	}
	page := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/triggers?limit=2", nil)
	if got := ids(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/triggers?limit=2&cursor="+page["next_cursor"].(string), nil)); !same(got, []string{a1, c1}) {
		t.Errorf("second page = %v", got)
	}
	if got := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/triggers/"+c1, nil); got["source"] != "ci" || got["source_id"] != ci["id"] {
		t.Errorf("trigger = %v", got)
	}
	e.want(t, 404, e.other, "GET", "/v1/tenants/beta/triggers/"+c1, nil)
	e.want(t, 404, e.admin, "GET", "/v1/tenants/acme/triggers/trg_nope", nil)
	e.want(t, 400, e.admin, "GET", "/v1/tenants/acme/triggers?limit=0", nil)

	// The runner's part, done by hand: claim, match, store runs.
	ctx := context.Background()
	claimed, err := e.store.ClaimTriggers(ctx, "node", e.clock.Now(), time.Minute, 10)
	if err != nil || len(claimed) != 5 {
		t.Fatalf("claimed %d: %v", len(claimed), err)
	}
	for _, tr := range claimed {
		var runs []*hookd.Run
		if tr.ID == c1 || tr.ID == c2 {
			runs = []*hookd.Run{{RuleID: rl["id"].(string), RuleName: "on-ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "ci.done"}}}
		}
		if err := e.store.ProcessTrigger(ctx, tr.ID, "node", runs, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	runs := items(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/runs", nil))
	if len(runs) != 2 || runs[0]["status"] != "queued" || runs[0]["rule"] != "on-ci" {
		t.Fatalf("runs = %v", runs)
	}
	run1 := runs[1]["id"].(string)
	for _, c := range []struct {
		query string
		n     int
	}{
		{"?rule=on-ci", 2}, {"?rule=" + rl["id"].(string), 2}, {"?rule=nope", 0}, {"?trigger=" + c1, 1}, {"?trigger=" + a1, 0},
		{"?status=queued", 2}, {"?status=failed", 0}, {"?rule=on-ci&trigger=" + c2 + "&status=queued", 1},
	} {
		if got := items(t, e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/runs"+c.query, nil)); len(got) != c.n {
			t.Errorf("runs%s = %d, want %d", c.query, len(got), c.n)
		}
	}
	e.want(t, 400, e.viewer, "GET", "/v1/tenants/acme/runs?status=done", nil)
	if got := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/runs/"+run1, nil); got["trigger_id"] == nil || got["action"] == nil {
		t.Errorf("run = %v", got)
	}
	e.want(t, 404, e.other, "GET", "/v1/tenants/beta/runs/"+run1, nil)
	e.want(t, 404, e.viewer, "GET", "/v1/tenants/acme/runs/run_nope", nil)
	if got := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme/triggers/"+c1, nil); got["processed_at"] == nil || got["runs"] != 1.0 {
		t.Errorf("processed trigger = %v", got)
	}

	// Replay: unprocessed again, the runner woken, claimable anew.
	wakes := e.triggerWakes.Load()
	e.want(t, 403, e.viewer, "POST", "/v1/tenants/acme/triggers/"+c1+"/replay", nil)
	e.want(t, 404, e.other, "POST", "/v1/tenants/beta/triggers/"+c1+"/replay", nil)
	e.want(t, 404, e.admin, "POST", "/v1/tenants/acme/triggers/trg_nope/replay", nil)
	if e.triggerWakes.Load() != wakes {
		t.Error("a refused replay woke the runner")
	}
	got := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/triggers/"+c1+"/replay", nil)
	if got["id"] != c1 || got["processed_at"] != nil || e.triggerWakes.Load() != wakes+1 {
		t.Errorf("replayed = %v, wakes %d", got, e.triggerWakes.Load()-wakes)
	}
	claimed, err = e.store.ClaimTriggers(ctx, "node", e.clock.Now(), time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != c1 {
		t.Fatalf("claimed after replay: %v %v", claimed, err)
	}
}
