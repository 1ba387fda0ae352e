package maintain_test

import (
	"testing"
	"time"

	"github.com/hookd/hookd/internal/pgtest"
	"github.com/hookd/hookd/maintain"
	"github.com/hookd/hookd/postgres"
)

// Two nodes on one database: only the elected one runs the task; when its
// store closes, the other takes over within a few seconds.
func TestPostgresOneLeaderRunsMaintenance(t *testing.T) {
	dsn, _ := pgtest.Schema(t)
	const interval = 200 * time.Millisecond
	runs := make(chan run, 1000)
	stores := map[string]*postgres.Store{}
	for _, node := range []string{"n1", "n2"} {
		s, err := postgres.Open(ctx, dsn, postgres.Options{Migrate: true, MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[node] = s
		r, err := maintain.NewRunner(maintain.Elected(s.Elector(maintain.ElectionName), interval),
			[]maintain.Task{recorder(node, 10*time.Millisecond, runs)}, maintain.Options{})
		if err != nil {
			t.Fatal(err)
		}
		start(t, r)
	}

	wait := func(what string) run {
		t.Helper()
		select {
		case r := <-runs:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("no run %s", what)
			return run{}
		}
	}
	leader := wait("by any node").task
	for range 30 { // ~300ms: many of the leader's runs and checks
		if r := wait("by the leader"); r.task != leader {
			t.Fatalf("%s ran while %s leads", r.task, leader)
		}
	}

	// The leader's database goes away: it loses leadership at its next
	// check, and the other node takes over.
	closed := time.Now()
	stores[leader].Close()
	var took time.Duration
	for {
		r := wait("after the leader's store closed")
		if r.task != leader {
			took = time.Since(closed)
			break
		}
	}
	if took > 5*time.Second {
		t.Fatalf("takeover took %v", took)
	}
	t.Logf("takeover after %v", took)
	for range 20 { // the old leader has stopped
		if r := wait("by the new leader"); r.task == leader {
			t.Fatalf("%s still runs after %s took over", leader, r.task)
		}
	}
}
