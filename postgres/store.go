package postgres

import (
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultChannel is the LISTEN/NOTIFY channel that announces new work.
const DefaultChannel = "hookd_deliveries"

// Options configures a Store.
type Options struct {
	Now    func() time.Time // default time.Now; stored times have microsecond precision
	Logger *slog.Logger
	// Cipher, when set, seals endpoint secrets before they are written.
	Cipher hookd.Cipher
	// Migrate applies the embedded migrations when the store opens. The
	// caller chooses the default (serve migrates unless told not to).
	Migrate bool
	// MaxConns caps the connection pool; 0 keeps the DSN's pool_max_conns,
	// or 16 when the DSN does not set it.
	MaxConns int
	// Channel is the LISTEN/NOTIFY channel for wake-ups; default
	// DefaultChannel. Nodes of one deployment must use the same channel.
	Channel string
}

// Store implements hookd.Store on PostgreSQL. Any number of nodes may share
// one database: deliveries are leased with FOR UPDATE SKIP LOCKED, new work
// is announced with NOTIFY, and per-endpoint concurrency is counted in the
// database so it holds across nodes.
type Store struct {
	pool    *pgxpool.Pool
	config  *pgxpool.Config
	now     func() time.Time
	log     *slog.Logger
	cipher  hookd.Cipher
	channel string

	closed  atomic.Bool
	stop    chan struct{} // closed by Close: background goroutines end
	bg      sync.WaitGroup
	notify  chan struct{} // buffered(1): a NOTIFY is wanted
	wakeups chan struct{} // buffered(1): forwarded notifications
	listen  sync.Once

	closeOnce sync.Once
}

var _ hookd.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string; pgxpool's pool_* parameters and runtime parameters such as
// search_path are accepted) and, with opts.Migrate, applies migrations.
// EUNAVAILABLE if the database cannot be reached.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, hookd.Errorf(hookd.EINVALID, "Invalid PostgreSQL connection string.")
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = int32(opts.MaxConns)
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = 16
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Channel == "" {
		opts.Channel = DefaultChannel
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", translate(err))
	}
	s := &Store{
		pool: pool, config: cfg, now: opts.Now, log: opts.Logger, cipher: opts.Cipher, channel: opts.Channel,
		stop: make(chan struct{}), notify: make(chan struct{}, 1), wakeups: make(chan struct{}, 1),
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", translate(err))
	}
	if opts.Migrate {
		if err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	s.bg.Add(1)
	go s.notifier()
	return s, nil
}

// Close stops the background goroutines and closes the pool. Calls after
// Close return EUNAVAILABLE.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		s.bg.Wait()
		s.pool.Close()
	})
	return nil
}

// Pool returns the connection pool, for tools and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrateLockKey names the advisory lock Migrate holds; the schema is part
// of it so that deployments (and tests) in different schemas do not wait
// for each other.
const migrateLockKey = `hashtextextended('hookd.migrate:' || current_schema(), 0)`

// Migrate applies the embedded migrations that are not yet recorded in
// schema_migrations, each in its own transaction. It holds a session-level
// advisory lock while it works, so nodes starting at once apply each
// migration exactly once; it is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", s.fail(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+migrateLockKey+`)`); err != nil {
		return fmt.Errorf("migrate: lock: %w", s.fail(err))
	}
	defer func() {
		// Unlock even when ctx is done; if that fails the session ends
		// with the connection and takes the lock with it.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+migrateLockKey+`)`); err != nil {
			conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", s.fail(err))
	}
	pending, err := pendingMigrations(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate: %w", s.fail(err))
	}
	for _, name := range pending {
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// Simple protocol: a migration is many statements.
			if _, err := tx.Exec(ctx, string(body), pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, s.clock())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, s.fail(err))
		}
		s.log.Info("migration applied", slog.String("name", name))
	}
	return nil
}

// clock returns the store's current time at the precision PostgreSQL keeps.
func (s *Store) clock() time.Time { return micro(s.now()) }

// micro truncates t to what a timestamptz holds, in UTC.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func microPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := micro(*t)
	return &v
}

// utcPtr returns a scanned nullable time in UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// errClosed is returned by every method after Close.
var errClosed = hookd.Errorf(hookd.EUNAVAILABLE, "The database is closed.")

// fail translates err, reporting every failure after Close as errClosed.
func (s *Store) fail(err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		var he *hookd.Error
		if !errors.As(err, &he) || he.Code == hookd.EUNAVAILABLE {
			return errClosed
		}
	}
	return translate(err)
}

// translate maps driver errors to hookd errors by SQLSTATE and error type,
// never by message text.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var he *hookd.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return hookd.Errorf(hookd.ENOTFOUND, "Not found.")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return hookd.Errorf(hookd.ECONFLICT, "It already exists.")
		case pe.Code == "23503": // foreign_key_violation: the owning tenant is missing
			return hookd.Errorf(hookd.ENOTFOUND, "Tenant not found.")
		case pe.Code == "22021" || pe.Code == "22P05": // bad UTF-8, or \u0000 in text
			return hookd.Errorf(hookd.EINVALID, "The text contains characters that cannot be stored.")
		case pe.Code == "40001" || pe.Code == "40P01": // serialization failure, deadlock: retry
			return hookd.Errorf(hookd.EUNAVAILABLE, "The database aborted the transaction; retry.")
		case strings.HasPrefix(pe.Code, "08"), // connection exceptions
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources (too many connections, disk full)
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin/crash shutdown, cannot connect now
			pe.Code == "57014", pe.Code == "55P03", pe.Code == "25P03", // query cancelled, lock not available, idle tx timeout
			strings.HasPrefix(pe.Code, "58"): // system error (I/O)
			return hookd.Errorf(hookd.EUNAVAILABLE, "The database is unavailable.")
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return hookd.Errorf(hookd.EUNAVAILABLE, "The database is unavailable.")
	}
	return err
}

// notFound turns "no rows" into ENOTFOUND naming what was missing.
func (s *Store) notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return hookd.Errorf(hookd.ENOTFOUND, "%s not found.", what)
	}
	return s.fail(err)
}

// Cursors are the base64 of the last key of a page.
func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", hookd.Errorf(hookd.EINVALID, "Invalid cursor.")
	}
	return string(b), nil
}

// nextCursor trims a page fetched with one extra row and returns the cursor
// of the next page ("" on the last).
func nextCursor[T any](items []T, size int, key func(T) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, encodeCursor(key(items[len(items)-1]))
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// inTx runs fn in a transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if s.closed.Load() {
		return errClosed
	}
	return s.fail(pgx.BeginFunc(ctx, s.pool, fn))
}

// orEmpty returns v, or an empty slice for nil, so JSON holds [] not null.
func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// cleanText makes s storable in a text column: valid UTF-8 without NUL.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
