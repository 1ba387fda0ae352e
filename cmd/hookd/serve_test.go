package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

// Without HOOKD_ADMIN_KEY the first start prints a generated key once; it
// works, and a second start on the same database prints none.
func TestGeneratedAdminKeyShownOnceAndGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	db := filepath.Join(t.TempDir(), "first.db")
	p := startHookd(t, nil, "--db", db)
	key := regexp.MustCompile(`hk_[0-9A-Za-z]{43}`).FindString(p.log.String())
	if key == "" {
		t.Fatalf("no generated key in the output:\n%s", p.log.String())
	}
	c := client.New(p.url, key)
	if _, err := c.ListEndpoints(context.Background(), "default", hookdPage()); err != nil {
		t.Fatalf("the printed key does not work: %v", err)
	}
	// SIGTERM: a clean exit with status 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30s after SIGTERM")
	}
	if _, err := http.Get(p.url + "/healthz"); err == nil {
		t.Fatal("still serving after SIGTERM")
	}

	again := startHookd(t, nil, "--db", db)
	if regexp.MustCompile(`hk_[0-9A-Za-z]{43}`).MatchString(again.log.String()) {
		t.Fatal("a second start printed a key again")
	}
	if _, err := client.New(again.url, key).ListEndpoints(context.Background(), "default", hookdPage()); err != nil {
		t.Fatalf("the key stopped working after a restart: %v", err)
	}
}

// Endpoint secrets are encrypted at rest: the raw database files hold no
// secret, and the generated master key file is private.
func TestSecretsEncryptedAtRestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "enc.db")
	key := hookd.NewAPIKeySecret()
	p := startHookd(t, []string{"HOOKD_ADMIN_KEY=" + key}, "--dev", "--db", db)
	_, secret, err := client.New(p.url, key).CreateEndpoint(context.Background(), "default",
		&hookd.Endpoint{URL: "http://127.0.0.1:1/h", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	info, err := os.Stat(filepath.Join(dir, "hookd.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, mode %v", err, info.Mode().Perm())
	}
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(strings.TrimPrefix(secret, "whsec_")[:16])) || bytes.Contains(b, []byte(key)) {
			t.Fatalf("%s holds a secret in plain text", filepath.Base(f))
		}
	}
	// The same key file reads the secrets back after a restart.
	p2 := startHookd(t, []string{"HOOKD_ADMIN_KEY=" + key}, "--dev", "--db", db)
	if _, err := client.New(p2.url, key).ListEndpoints(context.Background(), "default", hookdPage()); err != nil {
		t.Fatalf("restart with the same key file: %v", err)
	}
}
