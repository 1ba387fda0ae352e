package config_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/sqlite"
)

// managedStore adds an in-memory hookd.ManagedStore to a real SQLite
// store, for as long as the sqlite package has none of its own.
type managedStore struct {
	*sqlite.Store
	mu sync.Mutex
	m  map[string][]hookd.ManagedResource
}

var _ config.Store = (*managedStore)(nil)

func (s *managedStore) SetManaged(_ context.Context, owner string, list []hookd.ManagedResource) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]hookd.ManagedResource, len(list))
	for i, r := range list {
		r.Owner = owner
		out[i] = r
	}
	s.m[owner] = out
	return nil
}

func (s *managedStore) FindManaged(_ context.Context, owner string) ([]hookd.ManagedResource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hookd.ManagedResource
	for o, list := range s.m {
		if owner == "" || o == owner {
			out = append(out, list...)
		}
	}
	return out, nil
}

func (s *managedStore) ManagedBy(_ context.Context, kind, tenantID, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for o, list := range s.m {
		for _, r := range list {
			if r.Kind == kind && r.TenantID == tenantID && r.Key == key {
				return o, nil
			}
		}
	}
	return "", nil
}

// newStore opens a SQLite store in a temporary directory, with the
// default tenant as hookd serve creates it. It uses the store's own
// ManagedStore once it has one.
func newStore(t *testing.T) config.Store {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var st config.Store
	if s, ok := any(db).(config.Store); ok {
		st = s
	} else {
		st = &managedStore{Store: db, m: map[string][]hookd.ManagedResource{}}
	}
	if err := st.CreateTenant(context.Background(), &hookd.Tenant{ID: hookd.DefaultTenant, Name: "Default"}); err != nil {
		t.Fatal(err)
	}
	return st
}

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// mustParse parses a file that must be valid (commands allowed).
func mustParse(t *testing.T, src string, vars map[string]string) *config.File {
	t.Helper()
	f, err := config.ParseWith("hookd.yaml", []byte(src), env(vars), config.Options{AllowCommands: true})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

// plan makes a plan that must succeed.
func plan(t *testing.T, st config.Store, f *config.File, owner string) *config.Plan {
	t.Helper()
	p, err := f.Plan(context.Background(), st, owner)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return p
}

// apply plans and applies f, and returns the plan.
func apply(t *testing.T, st config.Store, f *config.File, owner string) *config.Plan {
	t.Helper()
	p := plan(t, st, f, owner)
	if err := p.Apply(context.Background(), st); err != nil {
		t.Fatalf("Apply: %v\nplan:\n%s", err, p)
	}
	return p
}

// lines returns the plan's change lines.
func lines(p *config.Plan) []string {
	out := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = c.String()
	}
	return out
}

// wantPlan fails unless the plan's text lines are want, in order.
func wantPlan(t *testing.T, p *config.Plan, want ...string) {
	t.Helper()
	got := lines(p)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wantEmpty fails unless the plan is empty.
func wantEmpty(t *testing.T, p *config.Plan) {
	t.Helper()
	if !p.Empty() {
		t.Fatalf("plan is not empty:\n%s", p)
	}
}

var ctx = context.Background()

// secret returns a valid endpoint secret derived from a letter.
func secret(c byte) string {
	return hookd.SecretPrefix + strings.Repeat(string(c), 43) + "="
}

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
