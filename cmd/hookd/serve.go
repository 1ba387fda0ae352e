package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/action"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/filter"
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/maintain"
	"github.com/hookd/hookd/notify"
	"github.com/hookd/hookd/postgres"
	"github.com/hookd/hookd/sqlite"
	"github.com/hookd/hookd/vault"
)

// ServeConfig is the configuration of `hookd serve`.
type ServeConfig struct {
	Addr     string
	DB       string
	Dev      bool
	NodeID   string
	Lease    time.Duration
	LogLevel string
	LogJSON  bool
	// DebugAddr, when set, serves net/http/pprof there (keep it on loopback).
	DebugAddr string
	// MasterKeyFile holds the key that encrypts secrets at rest when
	// HOOKD_MASTER_KEY is not set; default hookd.key beside a SQLite
	// database. With PostgreSQL every node needs the same key, so one of
	// the two must be given.
	MasterKeyFile string
	// NoMigrate leaves a PostgreSQL schema as it is (run `hookd migrate`
	// first); SQLite always migrates on open.
	NoMigrate bool
	// AllowDestinations are CIDRs, addresses or host names deliveries may
	// reach although the network guard blocks them by default.
	AllowDestinations []string
	// ClientRate limits API requests per second per client address; 0: off.
	ClientRate float64
	// Retention is how long finished deliveries, their attempts and their
	// events are kept; 0 keeps them forever.
	Retention time.Duration
	// Ops configures auto-disable and alerts; the zero value turns them
	// off (the flags default to maintain.DefaultOps).
	Ops maintain.Ops
	// AllowCommands lets rules run programs on this host (command actions).
	AllowCommands bool
	// PublicURL is the base URL senders reach hookd at, shown in source
	// URLs; default: taken from each request.
	PublicURL string
	// Config is a YAML file reconciled at start and on SIGHUP; with Watch
	// also when it changes.
	Config string
	Watch  bool
}

// Server is a running hookd: store, API and dispatcher. Tests build one with
// NewServer and run it on port 0.
type Server struct {
	cfg        ServeConfig
	log        *slog.Logger
	store      hookd.Store
	dispatcher *delivery.Dispatcher
	runner     *action.Runner
	maintainer *maintain.Runner
	config     *configFile // nil without --config
	http       *http.Server
	ln         net.Listener
	nodeID     string
}

func parseServeFlags(args []string, env Env) (ServeConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var c ServeConfig
	fs.StringVar(&c.Addr, "addr", envOr(env, "HOOKD_ADDR", "127.0.0.1:8080"), "listen address (HOOKD_ADDR)")
	fs.StringVar(&c.DB, "db", envOr(env, "HOOKD_DB", "hookd.db"), "database: a SQLite file path (or sqlite:PATH), or a postgres:// URL (HOOKD_DB)")
	fs.BoolVar(&c.NoMigrate, "no-migrate", envBool(env, "HOOKD_NO_MIGRATE"), "PostgreSQL: do not apply migrations on start; run 'hookd migrate' instead (HOOKD_NO_MIGRATE)")
	fs.BoolVar(&c.Dev, "dev", envBool(env, "HOOKD_DEV"),
		"development mode: allow http:// and loopback/private destination URLs (HOOKD_DEV)")
	fs.StringVar(&c.NodeID, "node-id", envOr(env, "HOOKD_NODE_ID", ""),
		"lease owner id of this node, unique among live nodes (HOOKD_NODE_ID; default \"local\" on SQLite, host name and a random suffix on PostgreSQL)")
	leaseDefault, err := time.ParseDuration(envOr(env, "HOOKD_LEASE", "30s"))
	if err != nil {
		return c, usageError{"HOOKD_LEASE: " + err.Error()}
	}
	retention, err := time.ParseDuration(envOr(env, "HOOKD_RETENTION", maintain.DefaultRetention.String()))
	if err != nil || retention < 0 {
		return c, usageError{"HOOKD_RETENTION must be a duration such as 720h (0 keeps everything)"}
	}
	fs.DurationVar(&c.Retention, "retention", retention,
		"keep finished deliveries, attempts and their events this long; 0 keeps everything (HOOKD_RETENTION)")
	allow := envOr(env, "HOOKD_ALLOW_DESTINATIONS", "")
	fs.StringVar(&allow, "allow-destinations", allow,
		"comma-separated CIDRs, IPs or host names (*.domain for subdomains) deliveries may reach despite the private-network guard (HOOKD_ALLOW_DESTINATIONS)")
	clientRate, err := strconv.ParseFloat(envOr(env, "HOOKD_CLIENT_RATE_LIMIT", "1000"), 64)
	if err != nil || clientRate < 0 {
		return c, usageError{"HOOKD_CLIENT_RATE_LIMIT must be a number of requests per second (0: no limit)"}
	}
	fs.Float64Var(&c.ClientRate, "client-rate-limit", clientRate,
		"API requests per second one client address may make, with bursts of twice that; over it 429 (HOOKD_CLIENT_RATE_LIMIT; 0: no limit)")
	fs.StringVar(&c.Config, "config", envOr(env, "HOOKD_CONFIG", ""),
		"a YAML file of tenants, event types, endpoints, sources, rules and keys, reconciled at start and on SIGHUP (HOOKD_CONFIG; see docs/CONFIG.md)")
	fs.BoolVar(&c.Watch, "watch", envBool(env, "HOOKD_CONFIG_WATCH"), "with --config: reconcile again whenever the file changes (HOOKD_CONFIG_WATCH)")
	fs.StringVar(&c.PublicURL, "public-url", envOr(env, "HOOKD_PUBLIC_URL", ""),
		"base URL senders reach hookd at, shown in inbound webhook URLs (HOOKD_PUBLIC_URL; default: from each request)")
	fs.BoolVar(&c.AllowCommands, "allow-commands", envBool(env, "HOOKD_ALLOW_COMMANDS"),
		"let rules run programs on this host (command actions); off by default (HOOKD_ALLOW_COMMANDS)")
	c.Ops = maintain.DefaultOps()
	ops := []error{
		envVar(fs, env, &c.Ops.AutoDisable.Period, "auto-disable-after", "HOOKD_AUTO_DISABLE_AFTER", time.ParseDuration,
			"disable an endpoint whose every attempt failed for this long (0: never)"),
		envVar(fs, env, &c.Ops.AutoDisable.MinFailures, "auto-disable-failures", "HOOKD_AUTO_DISABLE_FAILURES", strconv.Atoi,
			"...and that failed at least this many attempts in a row"),
		envVar(fs, env, &c.Ops.Alerts.ErrorSpike.Threshold, "alert-error-rate", "HOOKD_ALERT_ERROR_RATE", parseFloat,
			"hookd.alert.error_spike when an endpoint's failure rate over 15 minutes is above this (0: off)"),
		envVar(fs, env, &c.Ops.Alerts.HealthLow.Threshold, "alert-health-rate", "HOOKD_ALERT_HEALTH_RATE", parseFloat,
			"hookd.alert.health_low when an endpoint's success rate over 24 h is below this (0: off)"),
		envVar(fs, env, &c.Ops.Alerts.MaxBacklog, "alert-max-backlog", "HOOKD_ALERT_MAX_BACKLOG", strconv.Atoi,
			"hookd.alert.resource_high when more deliveries than this are unfinished (0: off)"),
		envVar(fs, env, &c.Ops.Alerts.MaxDatabaseBytes, "alert-max-db-bytes", "HOOKD_ALERT_MAX_DB_BYTES", parseInt64,
			"hookd.alert.resource_high when the database is larger than this many bytes (0: off)"),
	}
	if err := errors.Join(ops...); err != nil {
		return c, usageError{err.Error()}
	}
	fs.DurationVar(&c.Lease, "lease", leaseDefault, "how long a claimed delivery is held before another node may take it (HOOKD_LEASE)")
	fs.StringVar(&c.LogLevel, "log-level", envOr(env, "HOOKD_LOG_LEVEL", "info"), "debug, info, warn or error (HOOKD_LOG_LEVEL)")
	fs.BoolVar(&c.LogJSON, "log-json", envOr(env, "HOOKD_LOG_FORMAT", "") == "json", "log as JSON lines (HOOKD_LOG_FORMAT=json)")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", envOr(env, "HOOKD_MASTER_KEY_FILE", ""),
		"file with the key that encrypts secrets at rest, created on first start (HOOKD_MASTER_KEY_FILE; default hookd.key beside the database; HOOKD_MASTER_KEY overrides)")
	fs.StringVar(&c.DebugAddr, "debug-addr", envOr(env, "HOOKD_DEBUG_ADDR", ""), "serve Go profiling (pprof) on this address, e.g. 127.0.0.1:6060 (HOOKD_DEBUG_ADDR)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, usageError{"serve takes no arguments"}
	}
	if c.ClientRate < 0 {
		return c, usageError{"--client-rate-limit must not be negative"}
	}
	for _, e := range strings.Split(allow, ",") {
		if e = strings.TrimSpace(e); e != "" {
			if err := (&delivery.Guard{}).ParseAllow(e); err != nil {
				return c, usageError{"--allow-destinations: " + err.Error()}
			}
			c.AllowDestinations = append(c.AllowDestinations, e)
		}
	}
	return c, nil
}

func runServe(ctx context.Context, args []string, env Env) error {
	cfg, err := parseServeFlags(args, env)
	if err != nil {
		return err
	}
	if env.Getenv("GOGC") == "" {
		// The heap is small (tens of MB) and allocation-heavy; collecting at
		// 200% growth instead of 100% halves GC work (measured in PERFORMANCE.md).
		debug.SetGCPercent(200)
	}
	s, err := NewServer(ctx, cfg, env)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

func newLogger(cfg ServeConfig, env Env) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(env.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(env.Stderr, opts))
}

// isPostgres reports whether dsn names a PostgreSQL database.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openStore opens the database named by dsn, sealing secrets with cipher.
// A PostgreSQL schema is migrated unless migrate is false.
func openStore(ctx context.Context, dsn string, cipher hookd.Cipher, migrate bool, log *slog.Logger) (hookd.Store, error) {
	if isPostgres(dsn) {
		s, err := postgres.Open(ctx, dsn, postgres.Options{Logger: log, Cipher: cipher, Migrate: migrate})
		if err != nil {
			return nil, err
		}
		if migrate {
			return s, nil
		}
		pending, err := s.PendingMigrations(ctx)
		if err == nil && len(pending) > 0 {
			err = fmt.Errorf("the database schema lacks migrations %s: run 'hookd migrate' first", strings.Join(pending, ", "))
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	return sqlite.Open(sqlitePath(dsn), sqlite.Options{Logger: log, Cipher: cipher})
}

func sqlitePath(dsn string) string { return strings.TrimPrefix(dsn, "sqlite:") }

// masterKey returns the vault that encrypts secrets at rest: the key in
// HOOKD_MASTER_KEY, else the key file, which is created (mode 0600) on
// first start.
func masterKey(cfg ServeConfig, env Env, log *slog.Logger) (*vault.Vault, error) {
	if v := env.Getenv("HOOKD_MASTER_KEY"); v != "" {
		k, err := vault.ParseKey(v)
		if err != nil {
			return nil, usageError{"HOOKD_MASTER_KEY: " + err.Error()}
		}
		return vault.New(k)
	}
	path := cfg.MasterKeyFile
	if path == "" {
		if isPostgres(cfg.DB) {
			// A key generated here would differ from the other nodes'.
			return nil, usageError{"with PostgreSQL, set HOOKD_MASTER_KEY or --master-key-file: every node must use the same key"}
		}
		path = filepath.Join(filepath.Dir(sqlitePath(cfg.DB)), "hookd.key")
	}
	k, created, err := vault.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if created {
		log.Warn("generated a master key for secrets at rest; back it up: without it stored secrets cannot be read",
			slog.String("file", path))
	}
	return vault.New(k)
}

// NewServer opens the store, prepares the default tenant and admin key, and
// binds the listener, so that on return the address is known.
func NewServer(ctx context.Context, cfg ServeConfig, env Env) (*Server, error) {
	log := newLogger(cfg, env)
	box, err := masterKey(cfg, env, log)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, cfg.DB, box, !cfg.NoMigrate, log)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Server{cfg: cfg, log: log, store: store}
	// The default tenant first, then the config file (it may declare the
	// superadmin key), then a bootstrap key if none is usable.
	rec := &reconciler{store: store}
	if s.config, err = newConfigFile(cfg, env, rec, log); err != nil {
		store.Close()
		return nil, err
	}
	if err := s.bootstrap(ctx, env); err != nil {
		store.Close()
		return nil, err
	}

	nodeID := cfg.NodeID
	switch {
	case nodeID != "":
	case isPostgres(cfg.DB):
		// Nodes sharing a database must not share an id: results are
		// accepted from whoever holds the lease's owner id. A restarted
		// node gets a new id, and its old leases expire after --lease.
		nodeID = defaultNodeID()
	default:
		// SQLite serves one process, so its node id can be stable: a
		// restarted process then frees its previous leases at once.
		nodeID = "local"
	}
	s.nodeID = nodeID
	var guard *delivery.Guard
	if !cfg.Dev {
		guard = &delivery.Guard{}
		for _, e := range cfg.AllowDestinations {
			_ = guard.ParseAllow(e) // validated with the flags
		}
	}
	// Wake-ups from other nodes (PostgreSQL) go to the dispatcher and the
	// rule runner alike.
	var wakeups, runWakeups <-chan struct{}
	if w, ok := store.(interface{ Wakeups() <-chan struct{} }); ok {
		wakeups, runWakeups = fanOut(w.Wakeups())
	}
	// Operational events (hookd.*) are published like any other event; the
	// dispatcher is woken for the deliveries they make.
	filters := filter.NewCache(nil)
	notifier := &notify.Publisher{Store: store, Log: log, Match: filters.Matcher}
	s.dispatcher = delivery.New(delivery.Config{
		Store: store.(delivery.Store), Logger: log, NodeID: nodeID, Guard: guard,
		Lease: cfg.Lease, UserAgent: "hookd/" + version, Wakeups: wakeups, Notifier: notifier,
	})
	notifier.Wake = s.dispatcher.Wake
	s.runner = action.New(action.Config{
		Store: store, Logger: log, NodeID: nodeID, Lease: cfg.Lease, Wakeups: runWakeups,
		Match: filters.Matcher, OnPublish: s.dispatcher.Wake, Client: delivery.NewHTTPClient(guard, nil),
		UserAgent: "hookd/" + version, AllowCommands: cfg.AllowCommands,
	})
	wakeRunner := s.runner.Wake
	// Maintenance (retention, expired tokens) runs on one node: the elected
	// leader on PostgreSQL, the only process on SQLite.
	campaign := maintain.Local
	if pg, ok := store.(*postgres.Store); ok {
		campaign = maintain.Elected(pg.Elector(maintain.ElectionName), maintain.DefaultElectionInterval)
	}
	tasks := append(maintain.StoreTasks(store, cfg.Retention, log), maintain.OpsTasks(store, notifier, cfg.Ops, log)...)
	s.maintainer, err = maintain.NewRunner(campaign, tasks, maintain.Options{Logger: log})
	if err != nil {
		store.Close()
		return nil, err
	}
	api := hookdhttp.NewServer(hookdhttp.Config{
		Store: store, Logger: log, AllowInsecure: cfg.Dev, OnPublish: s.dispatcher.Wake, Dispatcher: s.dispatcher,
		ClientRate: cfg.ClientRate, ClientBurst: int(2 * cfg.ClientRate), Notifier: notifier, Tester: s.dispatcher,
		Filters: filters, AllowCommands: cfg.AllowCommands, PublicURL: cfg.PublicURL, OnTrigger: wakeRunner, Reconcile: rec.api(),
	})
	s.http = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	return s, nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// bootstrap creates the default tenant, reconciles the --config file (an
// invalid one stops the start) and, if no superadmin key exists, makes the
// first one: HOOKD_ADMIN_KEY if set, otherwise a generated key printed once.
func (s *Server) bootstrap(ctx context.Context, env Env) error {
	if _, err := s.store.FindTenant(ctx, hookd.DefaultTenant); hookd.ErrorCode(err) == hookd.ENOTFOUND {
		err = s.store.CreateTenant(ctx, &hookd.Tenant{ID: hookd.DefaultTenant, Name: "Default"})
		if err != nil && hookd.ErrorCode(err) != hookd.ECONFLICT {
			return fmt.Errorf("create default tenant: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("find default tenant: %w", err)
	}

	if s.config != nil {
		if err := s.config.apply(ctx); err != nil {
			return fmt.Errorf("config file: %w", err)
		}
	}

	// A usable superadmin key must exist, or nobody could use the API:
	// revoked and expired ones do not count.
	usable, err := s.hasUsableSuperadmin(ctx)
	if err != nil {
		return fmt.Errorf("find admin keys: %w", err)
	}
	given := env.Getenv("HOOKD_ADMIN_KEY")
	if usable {
		return nil
	}
	key := given
	if key == "" {
		key = hookd.NewAPIKeySecret()
	} else if len(key) < 16 {
		return usageError{"HOOKD_ADMIN_KEY must be at least 16 characters"}
	}
	err = s.store.CreateAPIKey(ctx, &hookd.APIKey{Role: hookd.RoleSuperadmin, Name: "bootstrap", Hash: hookd.HashAPIKey(key)})
	if given != "" && hookd.ErrorCode(err) == hookd.ECONFLICT {
		// Another node sharing the database created it first, or it is an
		// old key that was revoked or has expired.
		k, ferr := s.store.FindAPIKeyByHash(ctx, hookd.HashAPIKey(key))
		if ferr == nil && k.Role == hookd.RoleSuperadmin && k.Usable(time.Now()) {
			return nil
		}
		return usageError{"HOOKD_ADMIN_KEY is a revoked or expired key and no other superadmin key is usable; set a new one"}
	}
	if err != nil {
		return fmt.Errorf("create admin key: %w", err)
	}
	if given == "" {
		fmt.Fprintf(env.Stderr, "\nCreated the superadmin API key. It is shown only this once; store it now:\n\n    %s\n\n", key)
	} else {
		s.log.Info("superadmin key created from HOOKD_ADMIN_KEY")
	}
	return nil
}

// hasUsableSuperadmin reports whether any superadmin key is neither
// revoked nor expired.
func (s *Server) hasUsableSuperadmin(ctx context.Context) (bool, error) {
	now := time.Now()
	p := hookd.Page{Limit: 100}
	for {
		keys, next, err := s.store.FindAPIKeys(ctx, hookd.APIKeyFilter{Role: hookd.RoleSuperadmin, Page: p})
		if err != nil {
			return false, err
		}
		for _, k := range keys {
			if k.Usable(now) {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		p.Cursor = next
	}
}

// Run serves until ctx is cancelled, then shuts down: the listener stops
// accepting, in-flight requests and attempts finish, claimed-but-unsent
// deliveries return to the queue, and the store is closed.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("hookd serving", slog.String("addr", s.Addr()), slog.String("db", redactDSN(s.cfg.DB)), slog.String("node", s.nodeID),
		slog.Bool("dev", s.cfg.Dev), slog.String("version", version))

	if s.cfg.DebugAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		dbg := &http.Server{Addr: s.cfg.DebugAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("debug listener", slog.Any("err", err))
			}
		}()
		defer dbg.Close()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if st, ok := s.store.(interface{ Stats() sqlite.WriterStats }); ok && s.log.Enabled(ctx, slog.LevelDebug) {
		go logWriterStats(runCtx, s.log, st.Stats)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 3)

	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			cancel()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.maintainer.Run(runCtx); err != nil {
			s.log.Warn("maintenance", slog.Any("err", err))
		}
	}()
	if s.config != nil {
		poll := time.Duration(0)
		if s.cfg.Watch {
			poll = time.Second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.config.watch(runCtx, poll)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.runner.Run(runCtx); err != nil {
			errc <- fmt.Errorf("rule runner: %w", err)
			cancel()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.dispatcher.Run(runCtx); err != nil {
			errc <- fmt.Errorf("dispatcher: %w", err)
			cancel()
		}
	}()

	<-runCtx.Done()
	s.log.Info("shutting down")
	shutCtx, done := context.WithTimeout(context.Background(), 30*time.Second)
	defer done()
	if err := s.http.Shutdown(shutCtx); err != nil {
		s.log.Warn("http shutdown", slog.Any("err", err))
	}
	wg.Wait()
	if err := s.store.Close(); err != nil {
		s.log.Warn("close store", slog.Any("err", err))
	}
	s.log.Info("stopped")
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// logWriterStats logs, every five seconds, how busy the SQLite writer was.
func logWriterStats(ctx context.Context, log *slog.Logger, stats func() sqlite.WriterStats) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	prev, at := stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cur := stats()
			log.Debug("sqlite writer",
				slog.Float64("busy", float64(cur.Busy-prev.Busy)/float64(now.Sub(at))),
				slog.Float64("commit", float64(cur.Commit-prev.Commit)/float64(now.Sub(at))),
				slog.Int64("groups", cur.Groups-prev.Groups), slog.Int64("requests", cur.Requests-prev.Requests))
			prev, at = cur, now
		}
	}
}

// defaultNodeID is the host name with a random suffix.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// redactDSN hides the password of a database URL, for logs.
func redactDSN(dsn string) string {
	if !isPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable)"
	}
	return u.Redacted()
}

// flagValue is a flag.Value of any type with a parse function.
type flagValue[T any] struct {
	p     *T
	parse func(string) (T, error)
}

func (v flagValue[T]) String() string {
	if v.p == nil {
		return ""
	}
	return fmt.Sprint(*v.p)
}

func (v flagValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err == nil {
		*v.p = x
	}
	return err
}

// envVar defines the flag name on p, whose default is the environment
// variable envName when set (else *p as it is), and says so in the usage.
// A bad environment value is an error naming the variable.
func envVar[T any](fs *flag.FlagSet, env Env, p *T, name, envName string, parse func(string) (T, error), usage string) error {
	if v := env.Getenv(envName); v != "" {
		x, err := parse(v)
		if err != nil {
			return fmt.Errorf("%s=%q: %v", envName, v, err)
		}
		*p = x
	}
	fs.Var(flagValue[T]{p: p, parse: parse}, name, usage+" ("+envName+")")
	return nil
}

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
func parseInt64(s string) (int64, error)   { return strconv.ParseInt(s, 10, 64) }

// fanOut copies each signal of in to two channels (a full one skips it:
// these are hints). The store's channel lives as long as the store.
func fanOut(in <-chan struct{}) (<-chan struct{}, <-chan struct{}) {
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	go func() {
		for range in {
			for _, c := range []chan struct{}{a, b} {
				select {
				case c <- struct{}{}:
				default:
				}
			}
		}
	}()
	return a, b
}
