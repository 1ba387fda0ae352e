package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hookd/hookd/config"
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/postgres"
)

// reconciler runs the reconciles of this process one at a time, and on
// PostgreSQL one at a time in the whole cluster (an advisory lock), so two
// nodes never create the same resource twice.
type reconciler struct {
	store config.Store
	mu    sync.Mutex
}

// reconcileLockWait bounds how long a reconcile waits for another node's.
const reconcileLockWait = 2 * time.Minute

func (r *reconciler) run(ctx context.Context, f *config.File, owner string, dryRun bool) (*config.Plan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pg, ok := r.store.(*postgres.Store); ok {
		e := pg.Elector("config")
		deadline := time.Now().Add(reconcileLockWait)
		for {
			held, err := e.TryLead(ctx)
			if err != nil {
				return nil, err
			}
			if held {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("another node has been reconciling a config file for %s", reconcileLockWait)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		defer e.Resign()
	}
	p, err := f.Plan(ctx, r.store, owner)
	if err != nil || dryRun {
		return p, err
	}
	return p, p.Apply(ctx, r.store)
}

// configFile is the --config file of `hookd serve`: reconciled at start,
// on SIGHUP, and with --watch when it changes.
type configFile struct {
	path string // absolute: the owner of what it declares
	env  Env
	opts config.Options
	rec  *reconciler
	log  *slog.Logger
}

// apply loads and reconciles the file; a file with problems changes
// nothing. Generated endpoint secrets are never logged.
func (c *configFile) apply(ctx context.Context) error {
	f, err := config.LoadWith(c.path, c.env.Getenv, c.opts)
	if err != nil {
		return err
	}
	p, err := c.rec.run(ctx, f, c.path, false)
	if err != nil {
		return err
	}
	for _, w := range p.Warnings {
		c.log.Warn("config: "+w, slog.String("file", c.path))
	}
	if p.Empty() {
		c.log.Info("config: up to date", slog.String("file", c.path))
		return nil
	}
	for _, ch := range p.Changes {
		c.log.Info("config: applied", slog.String("file", c.path), slog.String("op", string(ch.Op)), slog.String("kind", ch.Kind),
			slog.String("tenant", ch.Tenant), slog.String("name", ch.Name), slog.Any("fields", ch.Fields))
	}
	for _, g := range p.Generated {
		c.log.Info("config: generated a signing secret; it is not shown here (rotate it, or give it in the file, to know it)",
			slog.String("tenant", g.Tenant), slog.String("endpoint", g.Endpoint), slog.String("id", g.ID))
	}
	return nil
}

// watch reconciles again on SIGHUP and, with poll > 0, when the file's
// size or modification time changes (checked every poll, applied once it
// has been stable for one more poll, so a half-written file is not read).
// A file with problems is logged and the previous state stays.
func (c *configFile) watch(ctx context.Context, poll time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	last, pending := c.stamp(), false
	reload := func(why string) {
		c.log.Info("config: reloading", slog.String("file", c.path), slog.String("why", why))
		if err := c.apply(ctx); err != nil {
			c.log.Error("config: not applied; the previous state stays", slog.String("file", c.path), slog.Any("err", err))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload("SIGHUP")
			last, pending = c.stamp(), false
		case <-tick:
			now := c.stamp()
			switch {
			case now != last:
				last, pending = now, true
			case pending:
				pending = false
				reload("the file changed")
			}
		}
	}
}

// stamp identifies a version of the file by size and modification time.
func (c *configFile) stamp() string {
	fi, err := os.Stat(c.path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
}

// newConfigFile returns the --config file of cfg, or nil.
func newConfigFile(cfg ServeConfig, env Env, rec *reconciler, log *slog.Logger) (*configFile, error) {
	if cfg.Config == "" {
		return nil, nil
	}
	abs, err := filepath.Abs(cfg.Config)
	if err != nil {
		return nil, err
	}
	return &configFile{path: abs, env: env, opts: config.Options{AllowInsecure: cfg.Dev, AllowCommands: cfg.AllowCommands},
		rec: rec, log: log}, nil
}

// runValidate checks a config file offline.
func runValidate(_ context.Context, args []string, env Env) error {
	fs := newFlagSet("validate", env)
	dev := fs.Bool("dev", false, "check as a server started with --dev would (http:// and private URLs allowed)")
	commands := fs.Bool("allow-commands", false, "check as a server started with --allow-commands would")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: hookd validate FILE [--dev] [--allow-commands]"}
	}
	if _, err := config.LoadWith(pos[0], env.Getenv, config.Options{AllowInsecure: *dev, AllowCommands: *commands}); err != nil {
		fmt.Fprintln(env.Stdout, err)
		return fmt.Errorf("%s is not valid", pos[0])
	}
	fmt.Fprintf(env.Stdout, "%s is valid\n", pos[0])
	return nil
}

// applyAnswer is the answer of POST /v1/config/apply.
type applyAnswer struct {
	config.Plan
	Applied   bool                     `json:"applied"`
	Generated []config.GeneratedSecret `json:"generated_secrets"`
}

// runApply sends a config file to the server's reconcile, with the values
// of the variables it references from this environment.
func runApply(ctx context.Context, args []string, env Env) error {
	var cf clientFlags
	fs := newFlagSet("apply", env)
	cf.register(fs, env)
	file := fs.String("f", "", "the config file (required)")
	dry := fs.Bool("dry-run", false, "print the plan, change nothing")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{"usage: hookd apply -f FILE [--dry-run] [--json]"}
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	in := map[string]any{"name": *file, "yaml": string(data), "env": config.Variables(data, env.Getenv), "dry_run": *dry}
	raw, err := c.Raw(ctx, "POST", "/v1/config/apply", in)
	if err != nil {
		return err
	}
	var ans applyAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return err
	}
	if cf.json {
		return printJSON(env.Stdout, ans)
	}
	if ans.Empty() {
		fmt.Fprintf(env.Stdout, "%s: nothing to change\n", *file)
	} else {
		fmt.Fprint(env.Stdout, ans.String())
	}
	if *dry {
		fmt.Fprintln(env.Stdout, "(dry run: nothing was changed)")
	}
	for _, g := range ans.Generated {
		fmt.Fprintf(env.Stdout, "\nSigning secret of endpoint %s/%s (%s), shown only this once:\n\n    %s\n", g.Tenant, g.Endpoint, g.ID, g.Secret)
	}
	return nil
}

// runExport prints a tenant as a config file.
func runExport(ctx context.Context, args []string, env Env) error {
	var cf clientFlags
	fs := newFlagSet("export", env)
	cf.register(fs, env)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	raw, err := c.Raw(ctx, "GET", "/v1/tenants/"+cf.tenant+"/config", nil)
	if err != nil {
		return err
	}
	_, err = env.Stdout.Write(raw)
	return err
}

// serverReconciler adapts the reconciler to the API's.
func (r *reconciler) api() hookdhttp.Reconciler { return r.run }
