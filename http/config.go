package http

import (
	"context"
	"net/http"
	"sync"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/config"
)

// maxConfigFile bounds the YAML of an apply request (config.Parse has its
// own limit too).
const maxConfigFile = 8 << 20

// Reconciler plans (and unless dryRun applies) a parsed config file as
// owner. The server's default takes a process-wide lock; cmd/hookd gives
// one that also holds a cluster-wide lock on PostgreSQL and is shared with
// the --config file's reconciles.
type Reconciler func(ctx context.Context, f *config.File, owner string, dryRun bool) (*config.Plan, error)

// LocalReconciler returns a Reconciler that runs one reconcile at a time
// in this process.
func LocalReconciler(st config.Store) Reconciler {
	var mu sync.Mutex
	return func(ctx context.Context, f *config.File, owner string, dryRun bool) (*config.Plan, error) {
		mu.Lock()
		defer mu.Unlock()
		p, err := f.Plan(ctx, st, owner)
		if err != nil || dryRun {
			return p, err
		}
		return p, p.Apply(ctx, st)
	}
}

// applyInput is the body of POST /v1/config/apply: the file as written,
// its name (the owner of what it makes), and the values of the variables
// it references, from the environment of whoever applies it.
type applyInput struct {
	Name   string            `json:"name"`
	YAML   string            `json:"yaml"`
	Env    map[string]string `json:"env"`
	DryRun bool              `json:"dry_run"`
}

// applyResult is the plan made (and applied unless dry_run), with the
// endpoint secrets hookd generated: shown this once.
type applyResult struct {
	*config.Plan
	Applied   bool                     `json:"applied"`
	Generated []config.GeneratedSecret `json:"generated_secrets,omitempty"`
}

// applyConfig reconciles a config file sent by `hookd apply`. The file is
// expanded with the variables sent along, never with the server's own
// environment (which holds its secrets).
func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.superadmin(r); err != nil {
		return err
	}
	var in applyInput
	if err := decode(w, r, maxConfigFile+64<<10, &in); err != nil {
		return err
	}
	if in.Name == "" || len(in.Name) > 500 {
		return hookd.Errorf(hookd.EINVALID, "name (the file's path, which owns what it declares) is required, at most 500 characters.")
	}
	f, err := config.ParseWith(in.Name, []byte(in.YAML), func(k string) string { return in.Env[k] },
		config.Options{AllowInsecure: s.cfg.AllowInsecure, AllowCommands: s.cfg.AllowCommands})
	if err != nil {
		return err
	}
	plan, err := s.cfg.Reconcile(r.Context(), f, in.Name, in.DryRun)
	if !in.DryRun {
		s.forgetSources() // also after a failure: it may have changed some
	}
	if err != nil {
		return err
	}
	res := applyResult{Plan: plan, Applied: !in.DryRun}
	if !in.DryRun {
		res.Generated = plan.Generated
		if !plan.Empty() {
			s.cfg.OnPublish() // endpoints may have been enabled or created
		}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// exportConfig writes a tenant as a config file that apply accepts,
// without its API keys (their hashes are never shown).
func (s *Server) exportConfig(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	f, err := config.Export(r.Context(), s.cfg.Store, tenant)
	if err != nil {
		return err
	}
	b, err := f.WithoutKeys().Marshal()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}
