package postgres

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake-ups are hints: a node that misses one still finds the work by
// polling. NOTIFY is sent after the publishing transaction commits, from its
// own statement, because a NOTIFY inside a transaction takes a database-wide
// lock at commit that serializes every notifying commit. The notifying
// transaction commits without waiting for its WAL flush (a lost hint costs
// nothing), and a node sends at most one NOTIFY per notifyGap.

// notifyGap is the least time between two NOTIFYs of one node; requests in
// between coalesce into the next.
const notifyGap = 10 * time.Millisecond

// wantNotify asks the notifier for one NOTIFY. Requests made while one is
// queued coalesce into it. It never blocks.
func (s *Store) wantNotify() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// notifier sends the NOTIFYs wantNotify asks for, one at a time.
func (s *Store) notifier() {
	defer s.bg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.notify:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')`, s.channel)
		cancel()
		if err != nil && !s.closed.Load() {
			s.log.Debug("notify", slog.Any("err", err))
		}
		select {
		case <-s.stop:
			return
		case <-time.After(notifyGap):
		}
	}
}

// Wakeups returns a channel that receives a value when another node (or this
// one) announces new due work. The first call starts a LISTEN connection of
// its own, which reconnects with backoff when it breaks (a value is sent
// after every reconnect, since notifications may have been missed). Sends
// never block: the channel holds at most one pending wake-up. It is a hint
// only; callers must still poll.
func (s *Store) Wakeups() <-chan struct{} {
	s.listen.Do(func() {
		s.bg.Add(1)
		go s.listener()
	})
	return s.wakeups
}

func (s *Store) wake() {
	select {
	case s.wakeups <- struct{}{}:
	default:
	}
}

// listener holds the LISTEN connection until Close.
func (s *Store) listener() {
	defer s.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	backoff := 100 * time.Millisecond
	connected := false
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, func() {
			if connected {
				s.wake() // work announced while we were away
			}
			connected = true
			backoff = 100 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listen for wake-ups: reconnecting", slog.Duration("in", backoff), slog.Any("err", err))
		// Jitter so that nodes do not reconnect in lockstep after a restart.
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenOnce connects, listens and forwards notifications until an error.
func (s *Store) listenOnce(ctx context.Context, up func()) error {
	cfg := s.config.ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = appName("hookd-listen:" + s.channel)
	// Let the server notice a vanished client within seconds.
	keepalives(cfg)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	up()
	for {
		// Wait in slices so a dead connection is noticed by the ping even
		// when no notification arrives.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && n != nil:
			s.wake()
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil:
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// keepalives sets server-side TCP keepalives on a long-lived session so a
// vanished client (and the locks its session holds) is dropped in ~15s.
func keepalives(cfg *pgx.ConnConfig) {
	for k, v := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "5"} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
}

// appName fits an application_name into PostgreSQL's 63 bytes.
func appName(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}
