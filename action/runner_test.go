package action_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/action"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/sqlite"
)

const tenant = "acme"

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	store *sqlite.Store
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := newClock()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateTenant(context.Background(), &hookd.Tenant{ID: tenant, Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: s, clock: c}
}

// config is the runner configuration of a test: fast polling, the test
// clock, loopback allowed for forwards, commands allowed.
func (e *env) config() action.Config {
	return action.Config{
		Store: e.store, Now: e.clock.Now, NodeID: "node-a", Poll: 10 * time.Millisecond,
		Client: delivery.NewHTTPClient(nil, nil), AllowCommands: true,
	}
}

// start runs a runner until the test ends.
func (e *env) start(cfg action.Config) *action.Runner {
	r, _ := e.startStop(cfg)
	return r
}

// startStop runs a runner and returns a function that stops it (called
// again when the test ends).
func (e *env) startStop(cfg action.Config) (*action.Runner, func()) {
	r := action.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return r, stop
}

func (e *env) rule(name string, r hookd.Rule) *hookd.Rule {
	e.t.Helper()
	r.TenantID, r.Name, r.Enabled = tenant, name, true
	if err := e.store.CreateRule(context.Background(), &r); err != nil {
		e.t.Fatal(err)
	}
	return &r
}

// trigger stores a request to source "ci" with a JSON body.
func (e *env) trigger(body string) *hookd.Trigger {
	e.t.Helper()
	return e.store_(&hookd.Trigger{
		TenantID: tenant, Source: "ci", Method: "POST", ContentType: "application/json", Body: json.RawMessage(body),
		Headers: map[string]string{"X-Github-Event": "push", "Authorization": "[redacted]"},
	})
}

func (e *env) store_(t *hookd.Trigger) *hookd.Trigger {
	e.t.Helper()
	t.ReceivedAt = e.clock.Now()
	if err := e.store.CreateTrigger(context.Background(), t, 0); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// runs waits until the trigger's runs are all done (succeeded or failed)
// and there are want of them, and returns them oldest first.
func (e *env) runs(trg *hookd.Trigger, want int) []*hookd.Run {
	e.t.Helper()
	return e.waitRuns(trg, want, func(r *hookd.Run) bool { return r.Status == hookd.RunSucceeded || r.Status == hookd.RunFailed })
}

func (e *env) waitRuns(trg *hookd.Trigger, want int, ok func(*hookd.Run) bool) []*hookd.Run {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runs, _, err := e.store.FindRuns(context.Background(), hookd.RunFilter{TenantID: tenant, TriggerID: trg.ID, Page: hookd.Page{Limit: 100}})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(runs) == want && !slices.ContainsFunc(runs, func(r *hookd.Run) bool { return !ok(r) }) {
			slices.SortFunc(runs, func(a, b *hookd.Run) int { return strings.Compare(a.RuleName, b.RuleName) })
			return runs
		}
		if time.Now().After(deadline) {
			var got []string
			for _, r := range runs {
				b, _ := json.Marshal(r)
				got = append(got, string(b))
			}
			e.t.Fatalf("trigger %s: want %d runs in the expected state, have:\n%s", trg.ID, want, strings.Join(got, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) trig(id string) *hookd.Trigger {
	e.t.Helper()
	t, err := e.store.FindTriggerByID(context.Background(), tenant, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func wantRun(t *testing.T, r *hookd.Run, status string) {
	t.Helper()
	if r.Status != status {
		b, _ := json.Marshal(r)
		t.Fatalf("run status %q, want %q: %s", r.Status, status, b)
	}
	if r.Result == nil {
		t.Fatalf("run %s has no result", r.ID)
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ep := &hookd.Endpoint{TenantID: tenant, Name: "all", URL: "https://example.com/h", Events: []string{"*"}}
	ep.SetDefaults()
	if err := e.store.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	e.rule("a-templated", hookd.Rule{Source: "ci", Criteria: json.RawMessage(`{"trigger.body.ref": {"type": "equals", "pattern": "refs/heads/main"}}`),
		Action: hookd.Action{Type: hookd.ActionPublish, EventType: "build.{{ trigger.headers.x-github-event }}",
			Data: json.RawMessage(`{"ref": "{{ trigger.body.ref }}", "n": "{{ trigger.body.n }}", "id": "{{ trigger.body.id }}"}`)}})
	e.rule("b-body", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "build.raw"}})
	e.rule("c-not-matching", hookd.Rule{Source: "ci", Criteria: json.RawMessage(`{"trigger.body.ref": {"type": "equals", "pattern": "refs/heads/dev"}}`),
		Action: hookd.Action{Type: hookd.ActionPublish, EventType: "never"}})
	e.rule("d-other-source", hookd.Rule{Source: "other", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "never"}})
	e.rule("e-disabled", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "never"}})
	if _, err := e.store.UpdateRule(ctx, tenant, "e-disabled", hookd.RuleUpdate{Enabled: new(bool)}); err != nil {
		t.Fatal(err)
	}
	var published atomic.Int32
	cfg := e.config()
	cfg.OnPublish = func() { published.Add(1) }
	e.start(cfg)
	body := `{"ref": "refs/heads/main",  "n": 3, "id": 9007199254740993}`
	trg := e.trigger(body)

	runs := e.runs(trg, 2)
	for _, r := range runs {
		wantRun(t, r, hookd.RunSucceeded)
	}
	want := map[string]struct{ typ, data string }{
		"a-templated": {"build.push", `{"ref":"refs/heads/main","n":3,"id":9007199254740993}`},
		// The body as sent, but for whitespace: the run stores its action as JSON.
		"b-body": {"build.raw", `{"ref":"refs/heads/main","n":3,"id":9007199254740993}`},
	}
	for _, r := range runs {
		ev, err := e.store.FindEventByID(ctx, tenant, r.Result.EventID)
		if err != nil {
			t.Fatalf("%s: event %q: %v", r.RuleName, r.Result.EventID, err)
		}
		w := want[r.RuleName]
		if ev.Type != w.typ || string(ev.Payload) != w.data || ev.Origin != hookd.OriginRule || ev.IdempotencyKey != "run:"+r.ID {
			t.Errorf("%s: event %s %s origin %s key %s; want %s %s", r.RuleName, ev.Type, ev.Payload, ev.Origin, ev.IdempotencyKey, w.typ, w.data)
		}
		if r.Attempts != 1 {
			t.Errorf("%s: %d attempts", r.RuleName, r.Attempts)
		}
	}
	if got := published.Load(); got != 2 {
		t.Errorf("OnPublish called %d times, want 2", got)
	}
	if got := e.trig(trg.ID); got.Processed == nil || got.Runs != 2 {
		t.Errorf("trigger processed %v with %d runs", got.Processed, got.Runs)
	}
}

// dropCompletions is a store whose CompleteRuns records nothing, as if the
// node died after executing and before recording.
type dropCompletions struct {
	action.Store
	dropped atomic.Int32
}

func (s *dropCompletions) CompleteRuns(_ context.Context, updates []*hookd.RunUpdate) error {
	s.dropped.Add(int32(len(updates)))
	return nil
}

// A run executed twice (lease expired after publishing) publishes once;
// a command runs twice (at-least-once).
func TestLeaseExpiryRunsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out")
	e.rule("publish", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "build.done"}})
	e.rule("command", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionCommand,
		Command: []string{`echo ran >> "$OUT"`}, Shell: true, Env: map[string]string{"OUT": out}}})
	trg := e.trigger(`{"x": 1}`)

	// Node a executes both runs, then "dies" before recording.
	ep := &hookd.Endpoint{TenantID: tenant, Name: "all", URL: "https://example.com/h", Events: []string{"*"}}
	ep.SetDefaults()
	if err := e.store.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	var publishedA, publishedB atomic.Int32
	crashed := &dropCompletions{Store: e.store}
	cfg := e.config()
	cfg.Store = crashed
	cfg.OnPublish = func() { publishedA.Add(1) }
	_, stop := e.startStop(cfg)
	deadline := time.Now().Add(20 * time.Second)
	for crashed.dropped.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("node a did not execute the runs")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	first := e.waitRuns(trg, 2, func(r *hookd.Run) bool { return r.Status == hookd.RunRunning })

	// Node b takes them once the leases expired.
	e.clock.Add(31 * time.Second)
	cfg = e.config()
	cfg.NodeID = "node-b"
	cfg.OnPublish = func() { publishedB.Add(1) }
	e.start(cfg)
	runs := e.runs(trg, 2)
	for _, r := range runs {
		wantRun(t, r, hookd.RunSucceeded)
		if r.Attempts != 2 {
			t.Errorf("%s: %d attempts, want 2", r.RuleName, r.Attempts)
		}
	}
	if runs[0].ID != first[0].ID {
		t.Fatalf("runs changed")
	}
	// One event, one delivery: the second execution found the first's event.
	dels, _, err := e.store.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: tenant, Page: hookd.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dels) != 1 || dels[0].EventID != runs[1].Result.EventID {
		t.Errorf("%d deliveries (want 1, of %s)", len(dels), runs[1].Result.EventID)
	}
	if a, b := publishedA.Load(), publishedB.Load(); a != 1 || b != 0 {
		t.Errorf("deliveries created by node a %d times, by node b %d times; want 1, 0", a, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "ran\nran\n" {
		t.Errorf("command output file %q, want two runs", b)
	}
}

// A rule whose templates or criteria fail at run time gives a failed run
// that says why; the other rules still run.
func TestMatchFailureGivesFailedRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rule("a-bad-type", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "build.{{ trigger.body.name }}"}})
	e.rule("b-bad-criteria", hookd.Rule{Source: "ci", Criteria: json.RawMessage(`{"trigger.body.x": {"type": "nope", "pattern": 1}}`),
		Action: hookd.Action{Type: hookd.ActionPublish, EventType: "x"}})
	e.rule("c-bad-template", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionForward, URL: "https://example.com/{{ trigger.body"}})
	e.rule("d-good", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "x"}})
	e.start(e.config())
	trg := e.trigger(`{"name": "has space"}`)
	runs := e.runs(trg, 4)
	wants := []string{
		`action.event_type: Invalid event type "build.has space"`,
		`criteria: trigger.body.x: unknown operator "nope"`,
		`action.url: column 21: "{{" without a closing "}}"`,
		"",
	}
	for i, r := range runs {
		if wants[i] == "" {
			wantRun(t, r, hookd.RunSucceeded)
			continue
		}
		wantRun(t, r, hookd.RunFailed)
		if !strings.Contains(r.Result.Error, wants[i]) {
			t.Errorf("%s: error %q, want %q", r.RuleName, r.Result.Error, wants[i])
		}
		if r.Action.URL != "" || r.Action.EventType != "" {
			t.Errorf("%s: failed run keeps parameters: %+v", r.RuleName, r.Action)
		}
	}
}

// receiver is a receiver of forwards that answers with the statuses in
// order (200 once they run out), waiting hang first when set.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	hang     time.Duration
	got      []*http.Request
	bodies   []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, string(b))
	status := 200
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	hang := rc.hang
	rc.mu.Unlock()
	if hang > 0 {
		select {
		case <-time.After(hang):
		case <-r.Context().Done():
		}
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "answer %d %s", status, strings.Repeat("x", 5000))
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func TestForward(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e.rule("json", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionForward, URL: srv.URL + "/{{ trigger.body.repo | urlencode }}",
		ForwardHeaders: []string{"x-github-event", "Authorization", "X-Missing"}, Headers: map[string]string{"X-Size": "{{ trigger.body.size }}"}}})
	e.rule("form", hookd.Rule{Trigger: "form", Action: hookd.Action{Type: hookd.ActionForward, URL: srv.URL + "/form"}})
	e.rule("text", hookd.Rule{Trigger: "text", Action: hookd.Action{Type: hookd.ActionForward, URL: srv.URL + "/text"}})
	e.start(e.config())

	body := `{"repo": "my api",  "size": 3}`
	trg := e.trigger(body)
	r := e.runs(trg, 1)[0]
	wantRun(t, r, hookd.RunSucceeded)
	if r.Result.StatusCode != 200 || len(r.Result.Output) != 4<<10 || !strings.HasPrefix(r.Result.Output, "answer 200 xxx") {
		t.Errorf("result %d %q...", r.Result.StatusCode, r.Result.Output[:20])
	}
	form := e.store_(&hookd.Trigger{TenantID: tenant, Name: "form", Method: "POST", ContentType: "application/x-www-form-urlencoded",
		Body: json.RawMessage(`{"a": "1 2", "b": ["x", "y"]}`)})
	wantRun(t, e.runs(form, 1)[0], hookd.RunSucceeded)
	text := e.store_(&hookd.Trigger{TenantID: tenant, Name: "text", Method: "POST", ContentType: "text/plain; charset=utf-8",
		Body: json.RawMessage(`"hello\nworld"`)})
	wantRun(t, e.runs(text, 1)[0], hookd.RunSucceeded)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 3 {
		t.Fatalf("%d requests", len(rc.got))
	}
	tests := []struct {
		path, ctype, body string
		headers           map[string]string
	}{
		{"/my%20api", "application/json", body, map[string]string{"X-Github-Event": "push", "Authorization": "[redacted]", "X-Size": "3",
			"Hookd-Run-Id": r.ID, "Hookd-Trigger-Id": trg.ID, "User-Agent": "hookd", "X-Missing": ""}},
		{"/form", "application/x-www-form-urlencoded", "a=1+2&b=x&b=y", nil},
		{"/text", "text/plain; charset=utf-8", "hello\nworld", nil},
	}
	for i, tt := range tests {
		req := rc.got[i]
		if req.Method != "POST" || req.URL.EscapedPath() != tt.path || req.Header.Get("Content-Type") != tt.ctype || rc.bodies[i] != tt.body {
			t.Errorf("request %d: %s %s %q %q; want %s %q %q", i, req.Method, req.URL.EscapedPath(), req.Header.Get("Content-Type"), rc.bodies[i], tt.path, tt.ctype, tt.body)
		}
		for k, v := range tt.headers {
			if got := req.Header.Get(k); got != v {
				t.Errorf("request %d: header %s = %q, want %q", i, k, got, v)
			}
		}
	}
}

// A failing forward is retried per its schedule, on the injected clock.
func TestForwardRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := &receiver{statuses: []int{500, 503}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e.rule("retry", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionForward, URL: srv.URL,
		RetrySchedule: []hookd.Duration{0, hookd.Duration(time.Minute), hookd.Duration(time.Hour)}}})
	r := e.start(e.config())
	trg := e.trigger(`{}`)

	queued := func(r *hookd.Run) bool { return r.Status == hookd.RunQueued && r.Attempts > 0 }
	run := e.waitRuns(trg, 1, queued)[0]
	if run.Attempts != 1 || run.Result == nil || run.Result.StatusCode != 500 || run.Result.Error != "HTTP 500" ||
		run.NextAt == nil || !run.NextAt.Equal(e.clock.Now().Add(time.Minute)) {
		b, _ := json.Marshal(run)
		t.Fatalf("after attempt 1: %s", b)
	}
	// Not due yet: nothing happens however often the runner looks.
	e.clock.Add(59 * time.Second)
	r.Wake()
	time.Sleep(100 * time.Millisecond)
	if n := rc.count(); n != 1 {
		t.Fatalf("%d requests before the retry was due", n)
	}
	e.clock.Add(time.Second)
	r.Wake()
	run = e.waitRuns(trg, 1, func(r *hookd.Run) bool { return queued(r) && r.Attempts == 2 })[0]
	if run.Result.StatusCode != 503 || !run.NextAt.Equal(e.clock.Now().Add(time.Hour)) {
		b, _ := json.Marshal(run)
		t.Fatalf("after attempt 2: %s", b)
	}
	e.clock.Add(time.Hour)
	r.Wake()
	run = e.runs(trg, 1)[0]
	wantRun(t, run, hookd.RunSucceeded)
	if run.Attempts != 3 || run.Result.StatusCode != 200 || run.Result.Error != "" {
		t.Errorf("after attempt 3: %+v %+v", run, run.Result)
	}
}

func TestForwardExhausted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := &receiver{statuses: []int{500, 500, 500}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e.rule("give-up", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionForward, URL: srv.URL,
		RetrySchedule: []hookd.Duration{0, 0}}})
	e.start(e.config())
	trg := e.trigger(`{}`)
	run := e.runs(trg, 1)[0]
	wantRun(t, run, hookd.RunFailed)
	if run.Attempts != 2 || run.Result.StatusCode != 500 || run.Result.Error != "HTTP 500" || rc.count() != 2 {
		t.Errorf("run %+v %+v after %d requests", run, run.Result, rc.count())
	}
}

func TestForwardTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := &receiver{hang: 10 * time.Second}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e.rule("slow", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionForward, URL: srv.URL,
		Timeout: hookd.Duration(50 * time.Millisecond), RetrySchedule: []hookd.Duration{0}}})
	e.start(e.config())
	trg := e.trigger(`{}`)
	run := e.runs(trg, 1)[0]
	wantRun(t, run, hookd.RunFailed)
	if run.Result.Error != "Timeout: no answer within 50ms." || run.Result.StatusCode != 0 {
		t.Errorf("result %+v", run.Result)
	}
}

// The default client refuses loopback addresses.
func TestForwardGuarded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e.rule("private", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionForward, URL: srv.URL, RetrySchedule: []hookd.Duration{0}}})
	cfg := e.config()
	cfg.Client = nil
	e.start(cfg)
	trg := e.trigger(`{}`)
	run := e.runs(trg, 1)[0]
	wantRun(t, run, hookd.RunFailed)
	if !strings.Contains(run.Result.Error, "is not allowed") || rc.count() != 0 {
		t.Errorf("result %+v, %d requests", run.Result, rc.count())
	}
}

func TestCommand(t *testing.T) {
	t.Setenv("HOOKD_MASTER_KEY", "secret-key-value") // no t.Parallel with Setenv
	e := newEnv(t)
	dir := t.TempDir()
	cmd := func(a hookd.Action) hookd.Action { a.Type = hookd.ActionCommand; return a }
	e.rule("a-echo", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"/bin/echo", "branch={{ trigger.body.branch }}", "{{ trigger.body.n }}"}})})
	e.rule("b-exit", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"exit 3"}, Shell: true})})
	e.rule("c-sleep", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"sleep", "10"}, Timeout: hookd.Duration(100 * time.Millisecond)})})
	e.rule("d-stdin", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"cat"}, Stdin: "{{ trigger.body | tojson }}"})})
	e.rule("e-env", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"env"}, Env: map[string]string{"BRANCH": "{{ trigger.body.branch }}"}})})
	e.rule("f-truncate", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"head -c 70000 /dev/zero | tr '\\0' y; echo oops >&2"}, Shell: true})})
	e.rule("g-dir", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"pwd"}, Dir: dir})})
	e.rule("h-missing", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{"/nonexistent/program"}})})
	e.rule("i-shell-group", hookd.Rule{Source: "ci", Action: cmd(hookd.Action{Command: []string{`sleep 10 & sleep 10; echo never`}, Shell: true,
		Timeout: hookd.Duration(100 * time.Millisecond)})})
	e.start(e.config())
	trg := e.trigger(`{"branch": "main; rm -rf /", "n": 3}`)
	runs := e.runs(trg, 9)
	byName := map[string]*hookd.Run{}
	for _, r := range runs {
		byName[r.RuleName] = r
	}
	code := func(r *hookd.Run) string {
		if r.Result.ExitCode == nil {
			return "none"
		}
		return fmt.Sprint(*r.Result.ExitCode)
	}
	tests := []struct {
		rule, status, exit, output, err string
	}{
		{"a-echo", hookd.RunSucceeded, "0", "branch=main; rm -rf / 3\n", ""},
		{"b-exit", hookd.RunFailed, "3", "", "Exit status 3."},
		{"c-sleep", hookd.RunFailed, "none", "", "Timeout: still running after 100ms; the process group was killed."},
		{"d-stdin", hookd.RunSucceeded, "0", `{"branch":"main; rm -rf /","n":3}`, ""},
		{"g-dir", hookd.RunSucceeded, "0", dir + "\n", ""},
		{"h-missing", hookd.RunFailed, "none", "", "Could not start: "},
		{"i-shell-group", hookd.RunFailed, "none", "", "Timeout: still running after 100ms"},
	}
	for _, tt := range tests {
		r := byName[tt.rule]
		wantRun(t, r, tt.status)
		if code(r) != tt.exit || r.Result.Output != tt.output || !strings.HasPrefix(r.Result.Error, tt.err) || (tt.err == "") != (r.Result.Error == "") {
			t.Errorf("%s: exit %s output %q error %q; want %s %q %q", tt.rule, code(r), r.Result.Output, r.Result.Error, tt.exit, tt.output, tt.err)
		}
		if r.Attempts != 1 {
			t.Errorf("%s: %d attempts (commands are not retried)", tt.rule, r.Attempts)
		}
	}
	// The shell group's timeout is within the grace of killing its group,
	// not after the background sleep's 10 s.
	if d := byName["i-shell-group"].Result.DurationMS; d > 3000 {
		t.Errorf("shell with a background child took %.0f ms", d)
	}

	envRun := byName["e-env"]
	wantRun(t, envRun, hookd.RunSucceeded)
	vars := strings.Split(strings.TrimSpace(envRun.Result.Output), "\n")
	slices.Sort(vars)
	var names []string
	for _, v := range vars {
		names = append(names, strings.SplitN(v, "=", 2)[0])
	}
	if !slices.Equal(names, []string{"BRANCH", "HOME", "PATH"}) || !slices.Contains(vars, "BRANCH=main; rm -rf /") {
		t.Errorf("command environment: %q", vars)
	}
	if strings.Contains(envRun.Result.Output, "secret-key-value") {
		t.Error("the server's environment leaked into a command")
	}

	tr := byName["f-truncate"]
	wantRun(t, tr, hookd.RunSucceeded)
	if want := strings.Repeat("y", action.MaxCommandOutput) + "\n[output truncated: 4469 more bytes]"; tr.Result.Output != want {
		t.Errorf("truncated output: %d bytes, ends %q", len(tr.Result.Output), tr.Result.Output[len(tr.Result.Output)-60:])
	}
}

func TestCommandsDisallowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := filepath.Join(t.TempDir(), "out")
	e.rule("cmd", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionCommand, Command: []string{"touch", out}}})
	cfg := e.config()
	cfg.AllowCommands = false
	e.start(cfg)
	run := e.runs(e.trigger(`{}`), 1)[0]
	wantRun(t, run, hookd.RunFailed)
	if !strings.Contains(run.Result.Error, "Command actions are disabled") {
		t.Errorf("error %q", run.Result.Error)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the command ran")
	}
}

// Runs of one rule run at most Concurrency at once on a node, and that
// many do run at once.
func TestCommandConcurrency(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			slots := t.TempDir()
			// Each run takes a free slot (mkdir is atomic) of limit slots and
			// fails if there is none: more runs at once than the limit. It
			// then waits up to 2 s for every slot to be taken, and says
			// whether they were: the limit was used.
			script := `s=; for i in $(seq "$LIMIT"); do if mkdir "$SLOTS/$i" 2>/dev/null; then s=$i; break; fi; done
[ -n "$s" ] || { echo "over the limit"; exit 9; }
n=0; while [ "$(ls "$SLOTS" | wc -l)" -lt "$LIMIT" ] && [ $n -lt 40 ]; do sleep 0.05; n=$((n+1)); done
if [ "$(ls "$SLOTS" | wc -l)" -ge "$LIMIT" ]; then echo full; else echo alone; fi
sleep 0.1; rmdir "$SLOTS/$s"`
			a := hookd.Action{Type: hookd.ActionCommand, Command: []string{script}, Shell: true,
				Env: map[string]string{"SLOTS": slots, "LIMIT": fmt.Sprint(limit)}}
			if limit > 1 {
				a.Concurrency = limit
			}
			e.rule("limited", hookd.Rule{Source: "ci", Action: a})
			var trgs []*hookd.Trigger
			for range 2 * limit {
				trgs = append(trgs, e.trigger(`{}`))
			}
			e.start(e.config())
			full := 0
			for _, trg := range trgs {
				r := e.runs(trg, 1)[0]
				wantRun(t, r, hookd.RunSucceeded)
				if strings.TrimSpace(r.Result.Output) == "full" {
					full++
				}
			}
			if full < limit {
				t.Errorf("only %d runs saw %d running at once", full, limit)
			}
		})
	}
}

// Rules listening to git events of any provider, or to a generic trigger.
func TestListensThroughRunner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rule("git", hookd.Rule{Git: &hookd.GitMatch{Event: "push", Repo: "acme/api", Branch: "main"},
		Action: hookd.Action{Type: hookd.ActionPublish, EventType: "deploy.{{ trigger.git.provider }}", Data: json.RawMessage(`{"sha": "{{ trigger.git.sha }}"}`)}})
	e.rule("nightly", hookd.Rule{Trigger: "nightly", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "nightly"}})
	r := e.start(e.config())
	gh := e.store_(&hookd.Trigger{TenantID: tenant, Source: "github", Method: "POST", ContentType: "application/json", Body: json.RawMessage(`{}`),
		Git: &hookd.Git{Provider: "github", Event: "push", Repo: "Acme/API", Branch: "main", SHA: "abc"}})
	gl := e.store_(&hookd.Trigger{TenantID: tenant, Source: "gitlab", Method: "POST", ContentType: "application/json", Body: json.RawMessage(`{}`),
		Git: &hookd.Git{Provider: "gitlab", Event: "push", Repo: "acme/api", Branch: "main", SHA: "def"}})
	dev := e.store_(&hookd.Trigger{TenantID: tenant, Source: "gitlab", Method: "POST", ContentType: "application/json", Body: json.RawMessage(`{}`),
		Git: &hookd.Git{Provider: "gitlab", Event: "push", Repo: "acme/api", Branch: "dev"}})
	nightly := e.store_(&hookd.Trigger{TenantID: tenant, Name: "nightly", Method: "POST", ContentType: "application/json", Body: json.RawMessage(`{}`)})
	r.Wake()
	ctx := context.Background()
	for trg, want := range map[*hookd.Trigger]string{gh: "deploy.github {\"sha\":\"abc\"}", gl: "deploy.gitlab {\"sha\":\"def\"}", nightly: "nightly {}"} {
		run := e.runs(trg, 1)[0]
		wantRun(t, run, hookd.RunSucceeded)
		ev, err := e.store.FindEventByID(ctx, tenant, run.Result.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.Type + " " + string(ev.Payload); got != want {
			t.Errorf("event %s, want %s", got, want)
		}
	}
	// The dev push is processed with no run.
	deadline := time.Now().Add(20 * time.Second)
	for e.trig(dev.ID).Processed == nil {
		if time.Now().After(deadline) {
			t.Fatal("dev push not processed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.trig(dev.ID).Runs; got != 0 {
		t.Errorf("dev push: %d runs", got)
	}
}

// Rule edits are seen within the cache's second (on the runner's clock).
func TestRuleCacheRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.rule("r", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "one"}})
	r := e.start(e.config())
	wantRun(t, e.runs(e.trigger(`{}`), 1)[0], hookd.RunSucceeded)
	crit := json.RawMessage(`{"trigger.body.go": {"type": "equals", "pattern": true}}`)
	if _, err := e.store.UpdateRule(ctx, tenant, "r", hookd.RuleUpdate{Criteria: &crit, Action: &hookd.Action{Type: hookd.ActionPublish, EventType: "two"}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	r.Wake()
	run := e.runs(e.trigger(`{"go": true}`), 1)[0]
	wantRun(t, run, hookd.RunSucceeded)
	if run.Action.EventType != "two" {
		t.Errorf("edited rule not used: %+v", run.Action)
	}
	trg := e.trigger(`{"go": false}`)
	deadline := time.Now().Add(20 * time.Second)
	for e.trig(trg.ID).Processed == nil {
		if time.Now().After(deadline) {
			t.Fatal("not processed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.trig(trg.ID).Runs; n != 0 {
		t.Errorf("edited criteria not used: %d runs", n)
	}
}

// On shutdown a run waiting for its rule's slot goes back to the queue,
// and a run still going after the grace period is stopped and left
// running, to run again once its lease expires.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started := filepath.Join(t.TempDir(), "started")
	e.rule("slow", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionCommand, Shell: true,
		Command: []string{`touch "$F"; sleep 30`}, Env: map[string]string{"F": started}, Timeout: hookd.Duration(time.Minute)}})
	a, b := e.trigger(`{}`), e.trigger(`{}`)
	cfg := e.config()
	cfg.ShutdownGrace = 50 * time.Millisecond
	_, stop := e.startStop(cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Both runs claimed: one executing, one waiting for the rule's slot.
	e.waitRuns(a, 1, func(r *hookd.Run) bool { return r.Status == hookd.RunRunning })
	e.waitRuns(b, 1, func(r *hookd.Run) bool { return r.Status == hookd.RunRunning })
	began := time.Now()
	stop()
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("stopping took %s: the command was not killed", d)
	}
	var states []string
	for _, trg := range []*hookd.Trigger{a, b} {
		runs, _, err := e.store.FindRuns(context.Background(), hookd.RunFilter{TenantID: tenant, TriggerID: trg.ID})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs %v %v", runs, err)
		}
		states = append(states, fmt.Sprintf("%s/%d/%v", runs[0].Status, runs[0].Attempts, runs[0].Result))
	}
	slices.Sort(states)
	if want := []string{"queued/1/<nil>", "running/1/<nil>"}; !slices.Equal(states, want) {
		t.Errorf("runs after shutdown %v, want %v", states, want)
	}
}

// failFirstBatch is a store whose first PublishEvents of several events
// fails (as a publish that could not commit), and that counts the calls.
type failFirstBatch struct {
	*sqlite.Store
	mu                   sync.Mutex
	batches, failed, one int
}

func (s *failFirstBatch) PublishEvents(ctx context.Context, tenantID string, evs []*hookd.Event, m hookd.EndpointMatcher, h *hookd.Handoff) ([]*hookd.ClaimedDelivery, error) {
	s.mu.Lock()
	switch {
	case len(evs) == 1:
		s.one++
	case s.failed == 0:
		s.failed++
		s.mu.Unlock()
		return nil, hookd.Errorf(hookd.EUNAVAILABLE, "The database could not commit; nothing was written.")
	default:
		s.batches++
	}
	s.mu.Unlock()
	return s.Store.PublishEvents(ctx, tenantID, evs, m, h)
}

// Publish runs claimed together are published in one call; when that call
// fails, each run is published on its own and gets its own outcome.
func TestPublishBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.rule("publish", hookd.Rule{Source: "ci", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "build.done",
		Data: json.RawMessage(`{"n": "{{ trigger.body.n }}"}`)}})
	store := &failFirstBatch{Store: e.store}
	cfg := e.config()
	cfg.Store = store
	check := func(triggers []*hookd.Trigger) {
		t.Helper()
		for i, trg := range triggers {
			r := e.runs(trg, 1)[0]
			wantRun(t, r, hookd.RunSucceeded)
			ev, err := e.store.FindEventByID(ctx, tenant, r.Result.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"n":%d}`, i); string(ev.Payload) != want || ev.IdempotencyKey != "run:"+r.ID {
				t.Errorf("run %s: event %s key %s, want %s", r.ID, ev.Payload, ev.IdempotencyKey, want)
			}
		}
	}
	var first []*hookd.Trigger
	for i := range 20 {
		first = append(first, e.trigger(fmt.Sprintf(`{"n": %d}`, i)))
	}
	runner := e.start(cfg)
	check(first)
	var second []*hookd.Trigger
	for i := range 20 {
		second = append(second, e.trigger(fmt.Sprintf(`{"n": %d}`, i)))
	}
	runner.Wake()
	check(second)
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.failed != 1 || store.batches == 0 || store.one < 20 {
		t.Errorf("publish calls: %d failed batch, %d batches, %d single events; want 1, at least 1, at least 20", store.failed, store.batches, store.one)
	}
}
