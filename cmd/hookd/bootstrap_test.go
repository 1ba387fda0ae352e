package main

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/sqlite"
)

var generatedKey = regexp.MustCompile(`hk_[0-9A-Za-z]{43}`)

// When every superadmin key is revoked (an operator locked themselves
// out), the next start creates and prints a new one.
func TestNewAdminKeyWhenAllAreRevoked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	db := filepath.Join(t.TempDir(), "revoked.db")
	p := startHookd(t, nil, "--db", db)
	first := generatedKey.FindString(p.log.String())
	if first == "" {
		t.Fatalf("no generated key:\n%s", p.log.String())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	s, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.FindAPIKeyByHash(context.Background(), hookd.HashAPIKey(first))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(context.Background(), k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	again := startHookd(t, nil, "--db", db)
	second := generatedKey.FindString(again.log.String())
	if second == "" || second == first {
		t.Fatalf("no new key after every superadmin key was revoked:\n%s", again.log.String())
	}
}

// A node told not to migrate refuses an unmigrated PostgreSQL schema and
// says what to do; `hookd migrate` applies the migrations, idempotently,
// and then the node starts.
func TestMigrateCommandAndNoMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dsn := pgSchemaDSN(t)
	env := []string{"HOOKD_MASTER_KEY=" + strings.Repeat("ab", 32)}
	serve := exec.Command(hookdBin, "serve", "--addr", "127.0.0.1:0", "--db", dsn, "--no-migrate")
	serve.Env = env
	out, err := serve.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run 'hookd migrate' first") {
		t.Fatalf("serve --no-migrate on an empty schema: err=%v\n%s", err, out)
	}
	for range 2 {
		m := exec.Command(hookdBin, "migrate", "--db", dsn)
		if out, err := m.CombinedOutput(); err != nil || !strings.Contains(string(out), "schema is up to date") {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
	}
	startHookd(t, env, "--db", dsn, "--no-migrate")
}

// Serve's flags reject what they cannot use before anything starts.
func TestServeFlagValidation(t *testing.T) {
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	cfg, err := parseServeFlags([]string{"--allow-destinations", "10.1.0.0/16, hooks.internal ,*.corp.example"}, env)
	if err != nil || len(cfg.AllowDestinations) != 3 || cfg.Retention != 30*24*time.Hour {
		t.Fatalf("cfg=%+v err=%v", cfg, err)
	}
	for _, args := range [][]string{
		{"--allow-destinations", "10.0.0.0/99"},
		{"--allow-destinations", "not a host"},
		{"--retention", "soon"},
		{"--client-rate-limit", "-5"},
		{"extra"},
	} {
		if _, err := parseServeFlags(args, env); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	bad := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
		if k == "HOOKD_RETENTION" {
			return "-1h"
		}
		return ""
	}}
	if _, err := parseServeFlags(nil, bad); err == nil {
		t.Error("a negative HOOKD_RETENTION was accepted")
	}
}
