package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/sqlite"
)

func newTrigger(t *testing.T, s *sqlite.Store, body string) *hookd.Trigger {
	t.Helper()
	trg := &hookd.Trigger{TenantID: "acme", Name: "deploy", Method: "POST", Body: json.RawMessage(body), BodySHA256: "x"}
	if err := s.CreateTrigger(context.Background(), trg, 0); err != nil {
		t.Fatal(err)
	}
	return trg
}

// ProcessTriggers processes each trigger on its own: one whose lease was
// lost gets ECONFLICT and nothing written; the others their runs.
func TestProcessTriggers(t *testing.T) {
	s := open(t).(*sqlite.Store)
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	a, b, c := newTrigger(t, s, `{"n":1}`), newTrigger(t, s, `{"n":2}`), newTrigger(t, s, `{"n":3}`)
	now := time.Now()
	claimed, err := s.ClaimTriggers(ctx, "node-a", now, time.Minute, 2)
	if err != nil || len(claimed) != 2 || claimed[0].ID != a.ID || claimed[1].ID != b.ID {
		t.Fatalf("claimed %v, %v; want %s and %s", claimed, err, a.ID, b.ID)
	}
	run := func(rule string) *hookd.Run {
		return &hookd.Run{RuleID: rule, RuleName: rule, Action: hookd.Action{Type: hookd.ActionPublish, EventType: "x"}}
	}
	failedRun := &hookd.Run{RuleID: "r3", RuleName: "r3", Status: hookd.RunFailed, Result: &hookd.RunResult{Error: "template"}}
	runs := map[string][]*hookd.Run{
		a.ID: {run("r1"), failedRun},
		b.ID: {},
		c.ID: {run("r2")}, // not leased to node-a
	}
	failed, err := s.ProcessTriggers(ctx, "node-a", runs, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || hookd.ErrorCode(failed[c.ID]) != hookd.ECONFLICT {
		t.Fatalf("failed = %v, want ECONFLICT for %s only", failed, c.ID)
	}
	for id, want := range map[string]int{a.ID: 2, b.ID: 0} {
		got, err := s.FindTriggerByID(ctx, "acme", id)
		if err != nil || got.Processed == nil || got.Runs != want {
			t.Errorf("trigger %s: %+v, %v; want processed with %d runs", id, got, err, want)
		}
	}
	if got, _ := s.FindTriggerByID(ctx, "acme", c.ID); got.Processed != nil || got.Runs != 0 {
		t.Errorf("trigger %s processed without its lease: %+v", c.ID, got)
	}
	if r := runs[a.ID][0]; r.ID == "" || r.TenantID != "acme" || r.TriggerID != a.ID || r.Status != hookd.RunQueued {
		t.Errorf("run not filled in: %+v", r)
	}
	if failedRun.Status != hookd.RunFailed || failedRun.EndedAt == nil {
		t.Errorf("failed run: %+v", failedRun)
	}
	list, _, err := s.FindRuns(ctx, hookd.RunFilter{TenantID: "acme"})
	if err != nil || len(list) != 2 {
		t.Fatalf("runs %v, %v; want 2", list, err)
	}
	if runs[c.ID][0].ID != "" {
		t.Errorf("a run of the unleased trigger was filled in: %+v", runs[c.ID][0])
	}
}

// Bodies stored before they had a table of their own are moved there.
func TestTriggerBodiesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookd.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	body := `{"id": 9007199254740993, "text": "été"}`
	trg := newTrigger(t, s, body)
	s.Close()

	// Back to the schema before 0011: the body a column of triggers.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE triggers ADD COLUMN body BLOB NOT NULL DEFAULT x''`,
		`UPDATE triggers SET body = (SELECT body FROM trigger_bodies WHERE trigger_id = triggers.id)`,
		`DROP TABLE trigger_bodies`,
		`DELETE FROM schema_migrations WHERE name = '0011_trigger_bodies.sql'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err = sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.FindTriggerByID(ctx, "acme", trg.ID)
	if err != nil || string(got.Body) != body {
		t.Fatalf("body after the migration: %s, %v; want %s", got.Body, err, body)
	}
	// A trigger's body goes with it.
	if err := s.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM trigger_bodies`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d bodies left after their triggers were deleted (%v)", n, err)
	}
}

// Many triggers are processed as one batch (runs counted per trigger, more
// rows than one insert takes); when the batch fails as a whole (here a run
// id given by the caller that exists), each trigger is processed on its
// own: that one fails, the others are processed.
func TestProcessTriggersInBatches(t *testing.T) {
	s := open(t).(*sqlite.Store)
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	run := func(id string) *hookd.Run {
		return &hookd.Run{ID: id, RuleID: "r", RuleName: "r", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "x"}}
	}
	process := func(n int, runsOf func(i int) []*hookd.Run) ([]*hookd.Trigger, map[string]error) {
		t.Helper()
		for range n {
			newTrigger(t, s, `{}`)
		}
		claimed, err := s.ClaimTriggers(ctx, "node-a", time.Now(), time.Minute, n)
		if err != nil || len(claimed) != n {
			t.Fatalf("claimed %d, %v; want %d", len(claimed), err, n)
		}
		runs := map[string][]*hookd.Run{}
		for i, trg := range claimed {
			runs[trg.ID] = runsOf(i)
		}
		failed, err := s.ProcessTriggers(ctx, "node-a", runs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return claimed, failed
	}
	count := func(i int) int { return 1 + i%3 } // 1, 2 or 3 runs
	claimed, failed := process(40, func(i int) []*hookd.Run {
		list := []*hookd.Run{}
		for range count(i) {
			list = append(list, run(""))
		}
		return list
	})
	if len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	want := 0
	for i, trg := range claimed {
		want += count(i)
		got, err := s.FindTriggerByID(ctx, "acme", trg.ID)
		if err != nil || got.Processed == nil || got.Runs != count(i) {
			t.Fatalf("trigger %d: %+v, %v; want processed with %d runs", i, got, err, count(i))
		}
	}
	list, _, err := s.FindRuns(ctx, hookd.RunFilter{TenantID: "acme", Page: hookd.Page{Limit: 100}})
	if err != nil || len(list) != want || want <= 64 {
		t.Fatalf("%d runs, %v; want %d (more than one insert takes)", len(list), err, want)
	}

	taken := list[0].ID
	claimed, failed = process(5, func(i int) []*hookd.Run {
		if i == 2 {
			return []*hookd.Run{run(taken)}
		}
		return []*hookd.Run{run("")}
	})
	if len(failed) != 1 || hookd.ErrorCode(failed[claimed[2].ID]) != hookd.ECONFLICT {
		t.Fatalf("failed = %v, want ECONFLICT for %s only", failed, claimed[2].ID)
	}
	for i, trg := range claimed {
		got, err := s.FindTriggerByID(ctx, "acme", trg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if processed := got.Processed != nil; processed != (i != 2) || got.Runs != map[bool]int{true: 1}[processed] {
			t.Errorf("trigger %d: processed %t with %d runs", i, processed, got.Runs)
		}
	}
}
