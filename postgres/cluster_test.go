package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/postgres"
)

// waitWake reports whether a wake-up arrives within d.
func waitWake(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// backendPIDs returns the pids of sessions with the given application_name.
func backendPIDs(t *testing.T, conn *pgx.Conn, app string) []int32 {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// leaderPIDs returns the pid of the session holding the leader lock of the
// named election in schema. Other packages' tests run their own clusters
// against the same database at the same time, so sessions are picked by
// the lock they hold, never by application_name alone.
func leaderPIDs(t *testing.T, conn *pgx.Conn, schema, name string) []int32 {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		  AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('hookd.leader:' || $1 || ':' || $2, 0)`,
		schema, name)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) == 0 {
		t.Fatalf("no session holds the %s leader lock of schema %s", name, schema)
	}
	return pids
}

func terminate(t *testing.T, conn *pgx.Conn, pids []int32) {
	t.Helper()
	for _, pid := range pids {
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
	}
}

// A publish on one node wakes another; the LISTEN connection survives being
// killed (as when PostgreSQL restarts) and reconnects.
func TestWakeupsAcrossNodesAndReconnect(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	pub := openAt(t, dsn, schema, postgres.Options{})
	sub := openAt(t, dsn, schema, postgres.Options{})
	mustTenant(t, pub, "acme")
	mustEndpoint(t, pub, "acme", 16)

	wake := sub.Wakeups()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	app := "hookd-listen:hookd_" + schema
	deadline := time.Now().Add(10 * time.Second)
	for len(backendPIDs(t, admin, app)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the LISTEN connection never came up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain(wake)
	publishN(t, pub, "acme", 1)
	if !waitWake(wake, 5*time.Second) {
		t.Fatal("no wake-up after a publish on another node")
	}

	// Everything handed off: nothing for other nodes to claim, no NOTIFY.
	drain(wake)
	_, err = pub.PublishEvents(ctx, "acme", []*hookd.Event{{Type: "x", Payload: []byte(`{}`)}}, hookd.MatchSubscribed,
		&hookd.Handoff{Owner: "n1", Until: time.Now().Add(time.Minute), Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if waitWake(wake, 500*time.Millisecond) {
		t.Fatal("a publish whose deliveries were all handed off woke other nodes")
	}

	// Kill the LISTEN session; the listener reconnects by itself.
	old := backendPIDs(t, admin, app)
	terminate(t, admin, old)
	deadline = time.Now().Add(10 * time.Second)
	for {
		pids := backendPIDs(t, admin, app)
		if len(pids) == 1 && pids[0] != old[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the LISTEN connection did not come back (sessions %v, killed %v)", pids, old)
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain(wake) // the reconnect itself wakes (notifications may have been missed)
	publishN(t, pub, "acme", 1)
	if !waitWake(wake, 5*time.Second) {
		t.Fatal("no wake-up after the LISTEN connection was re-established")
	}
}

// A second node takes leadership over once the first leader's session is
// gone, whether it resigned or its connection was killed.
func TestLeaderTakeover(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	n1 := openAt(t, dsn, schema, postgres.Options{}).Elector("maintenance")
	n2 := openAt(t, dsn, schema, postgres.Options{}).Elector("maintenance")
	other := openAt(t, dsn, schema, postgres.Options{}).Elector("retention")

	lead := func(e *postgres.Elector) bool {
		t.Helper()
		ok, err := e.TryLead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lead(n1) {
		t.Fatal("the first campaign lost")
	}
	if lead(n2) {
		t.Fatal("two leaders at once")
	}
	if !lead(n1) || !n1.Leading() {
		t.Fatal("the leader lost its lead on a second check")
	}
	if !lead(other) {
		t.Fatal("another role's election is blocked by this one")
	}

	// The leader's session dies (a crashed node); n2 takes over.
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	terminate(t, admin, leaderPIDs(t, admin, schema, "maintenance"))
	deadline := time.Now().Add(5 * time.Second)
	for !lead(n2) {
		if time.Now().After(deadline) {
			t.Fatal("no takeover after the leader's session ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lead(n1) {
		t.Fatal("the old leader still believes it leads after its session died")
	}

	// A clean resignation hands over at once.
	n2.Resign()
	if !lead(n1) {
		t.Fatal("no takeover after the leader resigned")
	}
	n1.Resign()
}

// Run starts the leader's work on the elected node only and stops it when
// leadership is lost; the other node then runs it.
func TestLeaderRun(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var running atomic.Int32
	var runs [2]atomic.Int32
	stopped := make(chan int, 4)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{}, 2)
	for i := range 2 {
		e := openAt(t, dsn, schema, postgres.Options{}).Elector("sweeper")
		go func() {
			defer func() { done <- struct{}{} }()
			e.Run(rctx, 100*time.Millisecond, func(ctx context.Context) {
				if running.Add(1) != 1 {
					t.Error("two leaders ran at once")
				}
				runs[i].Add(1)
				<-ctx.Done()
				running.Add(-1)
				stopped <- i
			})
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runs[0].Load()+runs[1].Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nobody was elected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	first := 0
	if runs[1].Load() > 0 {
		first = 1
	}
	terminate(t, admin, leaderPIDs(t, admin, schema, "sweeper"))
	select {
	case i := <-stopped:
		if i != first {
			t.Fatalf("node %d stopped, want the leader %d", i, first)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the leader's work was not stopped after its session died")
	}
	for runs[1-first].Load() == 0 {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("the other node did not take over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	<-done
}
