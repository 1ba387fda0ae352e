package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

// hit is one request a test receiver got.
type hit struct {
	header http.Header
	body   []byte
}

// recorder is a receiver that answers 200 and hands every request over.
func recorder(t *testing.T) (*httptest.Server, chan hit) {
	t.Helper()
	got := make(chan hit, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- hit{header: r.Header.Clone(), body: b}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func next(t *testing.T, got chan hit) hit {
	t.Helper()
	select {
	case h := <-got:
		return h
	case <-time.After(15 * time.Second):
		t.Fatal("no request within 15 s")
		return hit{}
	}
}

func quiet(t *testing.T, got chan hit, d time.Duration) {
	t.Helper()
	select {
	case h := <-got:
		t.Fatalf("unexpected request: %s", h.body)
	case <-time.After(d):
	}
}

// verifies reports whether the official Standard Webhooks library accepts
// the request under secret.
func verifies(t *testing.T, secret string, h hit) bool {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(h.body, h.header) == nil
}

// The endpoint lifecycle through the CLI against the real server:
// rotation (both signatures during the overlap, checked with the official
// library), pause/resume, disable/enable, test, probe, trigger and replay.
func TestEndpointLifecycleCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	key := hookd.NewAPIKeySecret()
	p := startHookd(t, []string{"HOOKD_ADMIN_KEY=" + key}, "--dev", "--db", filepath.Join(t.TempDir(), "life.db"))
	recv, got := recorder(t)
	cli := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, p.url, key, args...)
		if err != nil {
			t.Fatalf("hookd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(cli("endpoints", "create", "--url", recv.URL+"/h", "--events", "invoice.*", "--json")), &created); err != nil {
		t.Fatal(err)
	}
	id, first := created.ID, created.Secret

	// Rotate: the new secret is shown once; both sign for the overlap.
	var rot client.Rotated
	if err := json.Unmarshal([]byte(cli("endpoints", "rotate-secret", id, "--json")), &rot); err != nil || rot.Secret == "" || rot.Secret == first {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	cli("events", "publish", "invoice.paid", "--data", `{"n":1}`)
	h := next(t, got)
	if !verifies(t, first, h) || !verifies(t, rot.Secret, h) || len(strings.Fields(h.header.Get("webhook-signature"))) != 2 {
		t.Fatalf("during the overlap both secrets must sign: %q", h.header.Get("webhook-signature"))
	}
	firstID := h.header.Get("webhook-id")

	// Overlap 0: the previous secret stops at once.
	if err := json.Unmarshal([]byte(cli("endpoints", "rotate-secret", id, "--overlap", "0s", "--json")), &rot); err != nil {
		t.Fatal(err)
	}
	current := rot.Secret
	time.Sleep(1100 * time.Millisecond) // a node re-reads an endpoint it sends to once a second
	cli("events", "publish", "invoice.paid", "--data", `{"n":2}`)
	h = next(t, got)
	if !verifies(t, current, h) || verifies(t, first, h) || len(strings.Fields(h.header.Get("webhook-signature"))) != 1 {
		t.Fatalf("after a rotation without overlap only the new secret signs: %q", h.header.Get("webhook-signature"))
	}

	// Pause holds, resume delivers the backlog.
	if out := cli("endpoints", "pause", id, "--reason", "deploy"); !strings.Contains(out, "paused (deploy)") {
		t.Fatalf("pause: %s", out)
	}
	cli("events", "publish", "invoice.paid", "--data", `{"n":3}`)
	quiet(t, got, 700*time.Millisecond)
	cli("endpoints", "resume", id)
	if h = next(t, got); !strings.Contains(string(h.body), `"n":3`) {
		t.Fatalf("after resume got %s", h.body)
	}

	// Disable: no deliveries are made; enable takes new ones again.
	cli("endpoints", "disable", id, "--reason", "customer asked")
	if out := cli("events", "publish", "invoice.paid", "--data", `{"n":4}`); !strings.Contains(out, "0 deliveries") {
		t.Fatalf("publish to a disabled endpoint: %s", out)
	}
	if out, err := runCLI(t, p.url, key, "endpoints", "pause", id); err == nil {
		t.Fatalf("pausing a disabled endpoint worked: %s", out)
	}
	if out := cli("endpoints", "get", id); !strings.Contains(out, "disabled (customer asked)") {
		t.Fatalf("get: %s", out)
	}
	cli("endpoints", "enable", id)

	// Test: a signed hookd.test event now, recorded as the last test.
	if out := cli("endpoints", "test", id); !strings.Contains(out, "ok, HTTP 200") {
		t.Fatalf("test: %s", out)
	}
	h = next(t, got)
	if !verifies(t, current, h) || !strings.Contains(string(h.body), `"type":"hookd.test"`) {
		t.Fatalf("test request %s", h.body)
	}
	if out := cli("endpoints", "get", id); !strings.Contains(out, "last test") || !strings.Contains(out, "success (24h)") {
		t.Fatalf("get after test: %s", out)
	}

	// Probe: a URL that is not an endpoint, signed with a generated secret.
	var probe client.ProbeResult
	if err := json.Unmarshal([]byte(cli("probe", recv.URL+"/probe", "--json")), &probe); err != nil || !probe.Success || probe.Secret == "" {
		t.Fatalf("probe: %+v %v", probe, err)
	}
	if h = next(t, got); !verifies(t, probe.Secret, h) {
		t.Fatal("the probe was not signed with the secret it returned")
	}

	// Trigger: a sample event from the type's example payload.
	c := client.New(p.url, key)
	if _, err := c.CreateEventType(context.Background(), hookd.DefaultTenant, &hookd.EventType{Name: "invoice.sample",
		Example: json.RawMessage(`{"sample":true}`)}); err != nil {
		t.Fatal(err)
	}
	cli("trigger", "invoice.sample")
	if h = next(t, got); !strings.Contains(string(h.body), `"data":{"sample":true}`) {
		t.Fatalf("trigger sent %s", h.body)
	}
	if out, err := runCLI(t, p.url, key, "trigger", "invoice.none"); err == nil {
		t.Fatalf("trigger of a type not in the catalog: %s", out)
	}

	// Replay: every event of the window again, with the same delivery ids.
	time.Sleep(300 * time.Millisecond) // let the last results be recorded
	if out := cli("endpoints", "replay", id, "--since", "1h"); !strings.Contains(out, "Queued 5 deliveries") {
		t.Fatalf("replay: %s", out)
	}
	ids := map[string]bool{}
	for range 5 {
		ids[next(t, got).header.Get("webhook-id")] = true
	}
	if !ids[firstID] {
		t.Fatalf("replayed ids %v lack the first delivery's %s", ids, firstID)
	}
	if out := cli("endpoints", "list"); !strings.Contains(out, "SUCCESS 24H") || !strings.Contains(out, "100.0%") {
		t.Fatalf("list: %s", out)
	}
	if out, err := runCLI(t, p.url, key, "endpoints", "replay", id); err == nil {
		t.Fatalf("replay without --since: %s", out)
	}
}
