package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	hookdhttp "github.com/hookd/hookd/http"
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
	// HOOKD_MASTER_KEY is not set; default hookd.key beside the database.
	MasterKeyFile string
}

// Server is a running hookd: store, API and dispatcher. Tests build one with
// NewServer and run it on port 0.
type Server struct {
	cfg        ServeConfig
	log        *slog.Logger
	store      hookd.Store
	dispatcher *delivery.Dispatcher
	http       *http.Server
	ln         net.Listener
}

func parseServeFlags(args []string, env Env) (ServeConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var c ServeConfig
	fs.StringVar(&c.Addr, "addr", envOr(env, "HOOKD_ADDR", "127.0.0.1:8080"), "listen address (HOOKD_ADDR)")
	fs.StringVar(&c.DB, "db", envOr(env, "HOOKD_DB", "hookd.db"), "database: a file path or sqlite:PATH (HOOKD_DB)")
	fs.BoolVar(&c.Dev, "dev", envOr(env, "HOOKD_DEV", "") == "true" || envOr(env, "HOOKD_DEV", "") == "1",
		"development mode: allow http:// and loopback/private destination URLs (HOOKD_DEV)")
	fs.StringVar(&c.NodeID, "node-id", envOr(env, "HOOKD_NODE_ID", ""), "lease owner id of this node (HOOKD_NODE_ID; default derived from the database)")
	leaseDefault, err := time.ParseDuration(envOr(env, "HOOKD_LEASE", "30s"))
	if err != nil {
		return c, usageError{"HOOKD_LEASE: " + err.Error()}
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

// openStore opens the database named by dsn, sealing secrets with cipher.
func openStore(dsn string, cipher hookd.Cipher, log *slog.Logger) (hookd.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		return nil, usageError{"PostgreSQL is not supported by this build yet; use a SQLite file"}
	default:
		return sqlite.Open(sqlitePath(dsn), sqlite.Options{Logger: log, Cipher: cipher})
	}
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
	store, err := openStore(cfg.DB, box, log)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Server{cfg: cfg, log: log, store: store}
	if err := s.bootstrap(ctx, env); err != nil {
		store.Close()
		return nil, err
	}

	nodeID := cfg.NodeID
	if nodeID == "" {
		// SQLite serves one process, so its node id can be stable: a
		// restarted process then frees its previous leases at once.
		nodeID = "local"
	}
	var guard *delivery.Guard
	if !cfg.Dev {
		guard = &delivery.Guard{}
	}
	s.dispatcher = delivery.New(delivery.Config{
		Store: store.(delivery.Store), Logger: log, NodeID: nodeID, Guard: guard,
		Lease: cfg.Lease, UserAgent: "hookd/" + version,
	})
	api := hookdhttp.NewServer(hookdhttp.Config{
		Store: store, Logger: log, AllowInsecure: cfg.Dev, OnPublish: s.dispatcher.Wake, Dispatcher: s.dispatcher,
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

// bootstrap creates the default tenant and, if no superadmin key exists, the
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

	keys, _, err := s.store.FindAPIKeys(ctx, hookd.APIKeyFilter{Role: hookd.RoleSuperadmin, Page: hookd.Page{Limit: 1}})
	if err != nil {
		return fmt.Errorf("find admin keys: %w", err)
	}
	given := env.Getenv("HOOKD_ADMIN_KEY")
	if len(keys) > 0 {
		return nil
	}
	key := given
	if key == "" {
		key = hookd.NewAPIKeySecret()
	} else if len(key) < 16 {
		return usageError{"HOOKD_ADMIN_KEY must be at least 16 characters"}
	}
	err = s.store.CreateAPIKey(ctx, &hookd.APIKey{Role: hookd.RoleSuperadmin, Name: "bootstrap", Hash: hookd.HashAPIKey(key)})
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

// Run serves until ctx is cancelled, then shuts down: the listener stops
// accepting, in-flight requests and attempts finish, claimed-but-unsent
// deliveries return to the queue, and the store is closed.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("hookd serving", slog.String("addr", s.Addr()), slog.String("db", s.cfg.DB),
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
	errc := make(chan error, 2)

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
				slog.Int64("groups", cur.Groups-prev.Groups), slog.Int64("requests", cur.Requests-prev.Requests))
			prev, at = cur, now
		}
	}
}
