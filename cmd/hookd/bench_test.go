package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// runBenchBinary runs `hookd bench --json` with args (the bench starts its
// own server) and decodes what it prints into out. Only counts are
// checked: timings belong in the numbers the bench reports, not in tests.
func runBenchBinary(t *testing.T, out any, args ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a server")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(hookdBin, append([]string{"bench", "--json", "--wait", "2m"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hookd bench %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("hookd bench %v did not finish\nstderr: %s", args, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("bench output %q: %v", stdout.String(), err)
	}
}

func TestBenchPublish(t *testing.T) {
	t.Parallel()
	var got BenchResult
	runBenchBinary(t, &got, "--endpoints", "2", "--events", "300", "--batch", "50")
	if got.Deliveries != 600 || got.Lost != 0 || got.Duplicates != 0 || got.BadSignatures != 0 {
		t.Errorf("got %+v, want 600 deliveries, none lost, duplicated or badly signed", got)
	}
	if got.RSSMB <= 0 {
		t.Errorf("rss_mb = %v, want the server's peak RSS", got.RSSMB)
	}
}

func TestBenchInbound(t *testing.T) {
	t.Parallel()
	var got InboundBenchResult
	runBenchBinary(t, &got, "--inbound", "--requests", "300", "--concurrency", "8", "--subscribe")
	if got.Accepted != 300 || got.Refused != 0 || got.Errors != 0 {
		t.Errorf("accepted %d, refused %d, errors %d; want 300, 0, 0", got.Accepted, got.Refused, got.Errors)
	}
	if got.Runs != 300 || got.FailedRuns != 0 || got.Unfinished != 0 {
		t.Errorf("runs %d succeeded, %d failed, %d unfinished; want 300, 0, 0", got.Runs, got.FailedRuns, got.Unfinished)
	}
	if got.BodyBytes < 5000 {
		t.Errorf("body_bytes = %d, want a push payload of about 6 KB", got.BodyBytes)
	}
	d := got.Deliveries
	if d == nil || d.Received != 300 || d.Lost != 0 || d.Duplicates != 0 || d.BadSignatures != 0 {
		t.Errorf("deliveries = %+v, want 300 received, none lost, duplicated or badly signed", d)
	}
}
