package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Elector elects one leader among the nodes sharing the database, for work
// that must run once per cluster (maintenance). Leadership is a
// session-level advisory lock (pg_try_advisory_lock) held on a connection
// of the elector's own: it lasts as long as that session. When the leader
// dies, its session ends (at once on a clean exit or a killed process;
// within ~15s via TCP keepalives when its machine vanishes) and the lock
// with it, so another node's next campaign wins.
//
// A leader that loses its connection learns it on its next TryLead (which
// pings). Run therefore makes a new leader wait two check intervals before
// it starts working, by which time a previous leader whose session died has
// failed a check and been told to stop. That is not a fence (a stalled
// process can still overlap), so leader work must be safe to run twice;
// retention and sweeps are.
type Elector struct {
	s    *Store
	name string

	mu    sync.Mutex
	conn  *pgx.Conn     // non-nil while leading
	check time.Duration // how long a leader's liveness ping may take
}

// Elector returns an elector for the named role (e.g. "maintenance"). Every
// node campaigning for the same name competes for one lock.
func (s *Store) Elector(name string) *Elector {
	return &Elector{s: s, name: name, check: 5 * time.Second}
}

// TryLead tries once to become the leader and reports whether this elector
// leads now. While it leads, TryLead checks that its session is alive; if
// it is not, leadership is lost (false) and the next call campaigns again.
// It never blocks on another node.
func (e *Elector) TryLead(ctx context.Context) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.s.closed.Load() {
		e.dropLocked()
		return false, errClosed
	}
	if e.conn != nil {
		pctx, cancel := context.WithTimeout(ctx, e.check)
		err := e.conn.Ping(pctx)
		cancel()
		if err == nil {
			return true, nil
		}
		e.dropLocked()
		return false, nil
	}
	cfg := e.s.config.ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = appName("hookd-leader:" + e.name)
	keepalives(cfg)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return false, translate(err)
	}
	var held bool
	// The key includes the schema, like the migration lock: deployments in
	// different schemas of one database elect their own leaders.
	if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock(hashtextextended('hookd.leader:' || current_schema() || ':' || $1, 0))`,
		e.name).Scan(&held); err != nil {
		conn.Close(context.Background())
		return false, translate(err)
	}
	if !held {
		conn.Close(context.Background())
		return false, nil
	}
	e.conn = conn
	return true, nil
}

// Leading reports whether the last TryLead won and nothing was lost since.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conn != nil
}

// Resign gives leadership up. The lock is released before the session is
// closed, so another node's next campaign wins at once: a closed session's
// locks are freed only when its backend has exited, a moment later.
func (e *Elector) Resign() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = e.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`) // on failure, closing frees it
		cancel()
	}
	e.dropLocked()
}

func (e *Elector) dropLocked() {
	if e.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		e.conn.Close(ctx)
		cancel()
		e.conn = nil
	}
}

// Run campaigns every interval until ctx is done. Once elected it waits two
// intervals (checking its lead) so that a previous leader has stopped, then
// runs lead with a context that is cancelled when leadership is lost (a
// check fails; checks run every interval and time out after one) or ctx
// ends, and waits for lead to return before campaigning again. It resigns
// on return.
func (e *Elector) Run(ctx context.Context, interval time.Duration, lead func(ctx context.Context)) {
	defer e.Resign()
	e.mu.Lock()
	e.check = interval
	e.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ok, _ := e.TryLead(ctx); ok && e.hold(ctx, t, 2) {
			e.s.log.Info("leader elected", "name", e.name)
			lctx, cancel := context.WithCancel(ctx)
			watch := make(chan struct{})
			go func() { // checks the lead; a failed check stops lead
				defer close(watch)
				for e.hold(lctx, t, 1) {
				}
				if lctx.Err() == nil {
					e.s.log.Warn("leadership lost", "name", e.name)
				}
				cancel()
			}()
			lead(lctx)
			cancel()
			<-watch
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hold checks the lead for n ticks and reports whether it was kept.
func (e *Elector) hold(ctx context.Context, t *time.Ticker, n int) bool {
	for range n {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if ok, _ := e.TryLead(ctx); !ok {
			return false
		}
	}
	return true
}
