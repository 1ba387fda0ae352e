package config_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/sqlite"
)

// newStore opens a SQLite store in a temporary directory, with the
// default tenant as hookd serve creates it.
func newStore(t *testing.T) config.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
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
