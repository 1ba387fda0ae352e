package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd/hookd"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures a Store.
type Options struct {
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
	// Cipher, when set, seals endpoint secrets before they are written.
	Cipher hookd.Cipher
	// MaxGroup is the most write requests committed together; default 256.
	MaxGroup int
}

// Store implements hookd.Store on one SQLite file.
type Store struct {
	path   string
	now    func() time.Time
	log    *slog.Logger
	cipher hookd.Cipher

	read  *sql.DB
	write *sql.DB
	conn  *sql.Conn // the writer's connection, used only by the writer goroutine
	stmts map[string]*sql.Stmt

	reqs      chan *writeReq // from callers that wait for the answer
	bg        chan *writeReq // background work (hookd.Background)
	maxGroup  int
	closeOnce sync.Once
	closed    chan struct{}
	stopped   chan struct{} // closed when the writer has returned
	writerWG  sync.WaitGroup

	// nextSeq is the next delivery seq; only the writer goroutine uses it.
	nextSeq int64

	// sources serves FindSourceByName, once per inbound request (inbound.go).
	sources sourceLookup

	// Writer statistics, for Stats.
	busyNanos   atomic.Int64
	commitNanos atomic.Int64
	groups      atomic.Int64
	requests    atomic.Int64
}

var _ hookd.Store = (*Store)(nil)

// writeReq is one unit of work for the writer; fn runs inside a savepoint.
type writeReq struct {
	fn     func(w *writer) error
	done   chan error
	queued time.Time // background requests only
	alone  bool      // execAlone's
	// trigger is CreateTrigger's; those of a group are stored together
	// (storeTriggers), fn being the way to store one on its own.
	trigger *triggerWrite
}

// Open opens (creating if needed) the database at path and applies migrations.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, hookd.Errorf(hookd.EINVALID, "A database path is required.")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// Create the file private to its owner before SQLite opens it; SQLite
	// gives its -wal and -shm files the same permissions. It holds payloads.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, hookd.Errorf(hookd.EUNAVAILABLE, "Cannot open the database file %s.", path)
	}
	f.Close()
	pragmas := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-16000)&_pragma=temp_store(MEMORY)"
	write, err := sql.Open("sqlite", "file:"+escapePath(abs)+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	s := &Store{
		path: abs, now: opts.Now, log: opts.Logger, cipher: opts.Cipher,
		write: write, stmts: map[string]*sql.Stmt{},
		reqs: make(chan *writeReq, 4096), bg: make(chan *writeReq, 4096), maxGroup: opts.MaxGroup, closed: make(chan struct{}), stopped: make(chan struct{}),
	}
	ctx := context.Background()
	if s.conn, err = write.Conn(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, translate(err))
	}
	if err := s.migrate(ctx); err != nil {
		s.conn.Close()
		write.Close()
		return nil, err
	}
	if err := s.conn.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM deliveries`).Scan(&s.nextSeq); err != nil {
		s.conn.Close()
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, translate(err))
	}
	s.read, err = sql.Open("sqlite", "file:"+escapePath(abs)+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		s.conn.Close()
		write.Close()
		return nil, err
	}
	s.read.SetMaxOpenConns(8)
	s.read.SetMaxIdleConns(8)
	s.writerWG.Add(1)
	go s.writer()
	return s, nil
}

func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// migrate applies the embedded migrations that are not yet recorded.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := migrations.ReadDir("migrations")
	if err != nil {
		return err
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Name() < names[j].Name() })
	for _, e := range names {
		var n int
		if err := s.conn.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, e.Name()).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return err
		}
		tx, err := s.conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, e.Name(), s.now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
	}
	return nil
}

// Close waits for queued writes to commit, then closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.writerWG.Wait()
	var errs []error
	for _, st := range s.stmts {
		st.Close()
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	errs = append(errs, s.write.Close())
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	return errors.Join(errs...)
}

// errClosed is returned for writes after Close.
var errClosed = hookd.Errorf(hookd.EUNAVAILABLE, "The database is closed.")

// exec queues fn for the writer and waits for the group it ran in to commit.
func (s *Store) exec(ctx context.Context, fn func(w *writer) error) error {
	return s.submit(ctx, &writeReq{fn: fn, done: make(chan error, 1)})
}

// execAlone is exec for a request that may change a great many rows (a
// tenant's deletion): it runs in a transaction of its own, without the
// savepoint each request of a group gets, whose journal (in memory,
// temp_store=MEMORY) would hold the original of every page it changes.
func (s *Store) execAlone(ctx context.Context, fn func(w *writer) error) error {
	return s.submit(ctx, &writeReq{fn: fn, done: make(chan error, 1), alone: true})
}

func (s *Store) submit(ctx context.Context, req *writeReq) error {
	queue := s.reqs
	if hookd.IsBackground(ctx) {
		queue, req.queued = s.bg, time.Now()
	}
	select {
	case <-s.closed:
		return errClosed
	default:
	}
	select {
	case queue <- req:
	case <-s.closed:
		return errClosed
	case <-ctx.Done():
		return hookd.Errorf(hookd.EUNAVAILABLE, "Request cancelled before it was written.")
	}
	// Once queued, the request runs and commits (or fails) as a whole; the
	// caller waits for the outcome so an acknowledged write is durable.
	select {
	case err := <-req.done:
		return err
	case <-s.stopped:
		// The writer drained the queue before stopping; a request that
		// slipped in after that was never run.
		select {
		case err := <-req.done:
			return err
		default:
			return errClosed
		}
	}
}

// backgroundWait bounds how long a background write request (see
// hookd.Background) waits while requests of waiting callers go first.
const backgroundWait = 100 * time.Millisecond

// quietAfter is how long after a group with a waiting caller's request the
// writer counts itself busy with them.
const quietAfter = 5 * time.Millisecond

// writer runs write requests in groups until the store is closed. A group
// takes every queued request of a waiting caller (up to maxGroup). While
// such requests keep coming (a group of them committed within quietAfter),
// queued background requests join a group only once the oldest has waited
// backgroundWait; otherwise at once. A burst of API or webhook requests is
// thus committed at the writer's full pace, the work it queues (the rule
// runner's) moving at least once per backgroundWait and at full pace when
// the burst ends.
func (s *Store) writer() {
	defer s.writerWG.Done()
	defer close(s.stopped)
	group := make([]*writeReq, 0, s.maxGroup)
	var waiting []*writeReq // background requests taken off s.bg, oldest first
	var lastMain time.Time  // when the last group with a caller's request committed
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		group = group[:0]
	takeBG:
		for {
			select {
			case r := <-s.bg:
				waiting = append(waiting, r)
			default:
				break takeBG
			}
		}
		// Overdue background requests keep room in the group, however many
		// callers' requests are queued.
		room := s.maxGroup
		if len(waiting) > 0 && time.Since(waiting[0].queued) >= backgroundWait {
			room -= min(len(waiting), s.maxGroup/2)
		}
	fill:
		for len(group) < room {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break fill
			}
		}
		main := len(group) > 0
		var hold time.Duration // how long the oldest background request may still wait
		if len(waiting) > 0 {
			hold = backgroundWait - time.Since(waiting[0].queued)
			if !main {
				hold = min(hold, quietAfter-time.Since(lastMain))
			}
			if hold <= 0 {
				n := min(len(waiting), s.maxGroup-len(group))
				group = append(group, waiting[:n]...)
				waiting = append(waiting[:0], waiting[n:]...)
			}
		}
		if len(group) > 0 {
			s.commitGroup(group)
			if main {
				lastMain = time.Now()
			}
			continue
		}
		var timer <-chan time.Time
		if len(waiting) > 0 {
			wake.Reset(hold)
			timer = wake.C
		}
		select {
		case r := <-s.reqs:
			s.commitGroup(append(group, r))
			lastMain = time.Now()
		case r := <-s.bg:
			waiting = append(waiting, r)
		case <-timer:
		case <-s.closed:
			s.drain(waiting)
			return
		}
		if timer != nil && !wake.Stop() {
			select {
			case <-wake.C:
			default:
			}
		}
	}
}

// drain commits what was queued before Close.
func (s *Store) drain(waiting []*writeReq) {
	group := make([]*writeReq, 0, s.maxGroup)
	for {
		group = group[:0]
	take:
		for len(group) < s.maxGroup {
			if len(waiting) > 0 {
				group, waiting = append(group, waiting[0]), waiting[1:]
				continue
			}
			select {
			case r := <-s.reqs:
				group = append(group, r)
			case r := <-s.bg:
				group = append(group, r)
			default:
				break take
			}
		}
		if len(group) == 0 {
			return
		}
		s.commitGroup(group)
	}
}

// WriterStats describes the writer since Open.
type WriterStats struct {
	Busy     time.Duration // time spent running groups
	Commit   time.Duration // of Busy, time spent in COMMIT (WAL writes, fsync, checkpoints)
	Groups   int64         // transactions committed or rolled back
	Requests int64         // write requests run
}

// Stats returns the writer's statistics.
func (s *Store) Stats() WriterStats {
	return WriterStats{Busy: time.Duration(s.busyNanos.Load()), Commit: time.Duration(s.commitNanos.Load()), Groups: s.groups.Load(), Requests: s.requests.Load()}
}

// commitGroup commits group, each execAlone request in a transaction of
// its own.
func (s *Store) commitGroup(group []*writeReq) {
	start := 0
	for i, r := range group {
		if !r.alone {
			continue
		}
		if i > start {
			s.commit(group[start:i])
		}
		s.commit(group[i : i+1])
		start = i + 1
	}
	if start < len(group) {
		s.commit(group[start:])
	}
	// The callers just answered are queued to run on the writer's P,
	// behind the writer itself. When there are many (accepted webhooks),
	// yielding lets them send their answers, and their clients the next
	// requests, now rather than once the writer next blocks; the next group
	// is the larger for it. Measured in docs/PERFORMANCE.md ("Receiving,
	// session 5"); with a few callers (the dispatcher's batches) it cost
	// delivery throughput a little, hence the threshold.
	if len(group) >= yieldAfter {
		runtime.Gosched()
	}
}

// yieldAfter is the size of a group after which the writer yields.
const yieldAfter = 16

// commit runs one group in one transaction, each request in a savepoint
// (a failing request rolls back only itself), except an execAlone request,
// which commitGroup gives a transaction of its own without one.
func (s *Store) commit(group []*writeReq) {
	began := time.Now()
	defer func() {
		s.busyNanos.Add(int64(time.Since(began)))
		s.groups.Add(1)
		s.requests.Add(int64(len(group)))
	}()
	ctx := context.Background()
	w := &writer{s: s, ctx: ctx}
	errs := make([]error, len(group))
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		s.answer(group, errs, translate(err))
		return
	}
	alone := len(group) == 1 && group[0].alone
	var triggers []int
	for i, r := range group {
		if r.trigger != nil {
			triggers = append(triggers, i)
		}
	}
	batched := false
	if len(triggers) > 0 {
		var err error
		if batched, err = s.storeTriggers(w, group, triggers, errs); err != nil {
			s.rollback(group, errs, err)
			return
		}
	}
	for i, r := range group {
		if batched && r.trigger != nil {
			continue
		}
		if alone {
			if err := r.fn(w); err != nil {
				if _, rerr := s.conn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
					s.log.Error("sqlite rollback", slog.Any("err", rerr))
				}
				s.answer(group, []error{translate(err)}, nil)
				return
			}
			continue
		}
		err, fatal := w.savepoint(func() error { return r.fn(w) })
		errs[i] = translate(err)
		if fatal != nil {
			s.rollback(group, errs, fatal)
			return
		}
	}
	committing := time.Now()
	_, err := s.conn.ExecContext(ctx, "COMMIT")
	s.commitNanos.Add(int64(time.Since(committing)))
	if err != nil {
		s.rollback(group, errs, err)
		return
	}
	s.answer(group, errs, nil)
}

func (s *Store) rollback(group []*writeReq, errs []error, cause error) {
	if _, err := s.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		s.log.Error("sqlite rollback", slog.Any("err", err))
	}
	s.log.Error("sqlite group commit failed", slog.Int("requests", len(group)), slog.Any("err", cause))
	s.answer(group, errs, hookd.Errorf(hookd.EUNAVAILABLE, "The database could not commit; nothing was written."))
}

func (s *Store) answer(group []*writeReq, errs []error, all error) {
	for i, r := range group {
		if all != nil {
			r.done <- all
		} else {
			r.done <- errs[i]
		}
	}
}

// writer is what a write request sees: the transaction of its group.
type writer struct {
	s   *Store
	ctx context.Context
}

// savepoint runs fn in a savepoint of its own, rolled back if fn fails
// (or the savepoint cannot be taken): err is that failure. fatal is a
// failure to roll back or release it, which leaves the transaction
// unusable. Savepoints nest; each call's is the innermost.
func (w *writer) savepoint(fn func() error) (err, fatal error) {
	if _, err := w.Exec("SAVEPOINT sp"); err != nil {
		return err, nil
	}
	if err = fn(); err != nil {
		if _, rerr := w.Exec("ROLLBACK TO sp"); rerr != nil {
			return err, rerr
		}
	}
	if _, rerr := w.Exec("RELEASE sp"); rerr != nil {
		return err, rerr
	}
	return err, nil
}

func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.s.stmts[query]; ok {
		return st, nil
	}
	st, err := w.s.conn.PrepareContext(w.ctx, query)
	if err != nil {
		return nil, err
	}
	w.s.stmts[query] = st
	return st, nil
}

func (w *writer) Exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *writer) Query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(w.ctx, args...)
}

func (w *writer) QueryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil {
		return w.s.conn.QueryRowContext(w.ctx, query, args...) // surfaces the same error on Scan
	}
	return st.QueryRowContext(w.ctx, args...)
}

// queryer is what read helpers need: the read pool or a writer.
type queryer interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

// reader adapts the read pool to queryer for one context.
type reader struct {
	db  *sql.DB
	ctx context.Context
}

func (r reader) QueryRow(q string, args ...any) *sql.Row {
	return r.db.QueryRowContext(r.ctx, q, args...)
}
func (r reader) Query(q string, args ...any) (*sql.Rows, error) {
	return r.db.QueryContext(r.ctx, q, args...)
}

func (s *Store) reader(ctx context.Context) reader { return reader{db: s.read, ctx: ctx} }

// translate maps driver errors to hookd errors.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var he *hookd.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return hookd.Errorf(hookd.ENOTFOUND, "Not found.")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return hookd.Errorf(hookd.ECONFLICT, "It already exists.")
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return hookd.Errorf(hookd.ENOTFOUND, "Tenant not found.")
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return hookd.Errorf(hookd.EUNAVAILABLE, "The database is unavailable.")
		}
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.Contains(err.Error(), "database is closed") {
		return hookd.Errorf(hookd.EUNAVAILABLE, "The database is unavailable.")
	}
	return err
}

// notFound turns sql.ErrNoRows into an ENOTFOUND with a resource message.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return hookd.Errorf(hookd.ENOTFOUND, "%s not found.", what)
	}
	return translate(err)
}

// Time helpers: INTEGER Unix nanoseconds, NULL for unset.
func ns(t time.Time) int64 { return t.UnixNano() }

func nsPtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNS(v int64) time.Time { return time.Unix(0, v).UTC() }

func fromNullNS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromNS(v.Int64)
	return &t
}

// Cursors are the base64 of the last id of a page.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", hookd.Errorf(hookd.EINVALID, "Invalid cursor.")
	}
	return string(b), nil
}

// page builds the cursor condition and limit of a list query: ids below the
// cursor, one row more than the page to know whether another page exists.
func page(p hookd.Page, column string) (cond string, args []any, limit int, err error) {
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return "", nil, 0, err
	}
	if after == "" {
		return "1=1", nil, p.Size() + 1, nil
	}
	return column + " < ?", []any{after}, p.Size() + 1, nil
}

// nextCursor trims a page fetched with one extra row and returns the cursor.
func nextCursor[T any](items []T, size int, id func(T) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, encodeCursor(id(items[len(items)-1]))
}
