package main

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

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
