package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

// A config file drives the real server: reconciled at start (with
// ${VAR} from the server's environment), its endpoint delivers, the API
// refuses to change it, --watch applies an edit, a broken edit changes
// nothing, SIGHUP applies the fixed file; validate, apply and export work
// from the CLI.
func TestConfigFileServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	ctx := context.Background()
	dir := t.TempDir()
	recv, got := recorder(t)
	file := filepath.Join(dir, "hookd.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const v1 = `tenants:
  - id: shop
    name: Shop
    event_types:
      - name: order.created
        example: {"order": 1}
    endpoints:
      - name: fulfilment
        url: ${HOOK_URL}/orders
        events: ["order.*"]
`
	write(v1)
	key := hookd.NewAPIKeySecret()
	p := startHookd(t, []string{"HOOKD_ADMIN_KEY=" + key, "HOOK_URL=" + recv.URL}, "--dev", "--db", filepath.Join(dir, "cfg.db"),
		"--config", file, "--watch")
	c := client.New(p.url, key)
	if _, err := c.Publish(ctx, "shop", "order.created", []byte(`{"order":1}`), ""); err != nil {
		t.Fatal(err)
	}
	if h := next(t, got); !strings.Contains(string(h.body), `"order":1`) {
		t.Fatalf("the file's endpoint got %s", h.body)
	}
	eps, err := c.ListEndpoints(ctx, "shop", hookd.Page{})
	if err != nil || len(eps.Data) != 1 {
		t.Fatalf("endpoints: %+v %v", eps, err)
	}
	ep := eps.Data[0]
	desc := "changed"
	if _, err := c.UpdateEndpoint(ctx, "shop", ep.ID, hookd.EndpointUpdate{Description: &desc}); hookd.ErrorCode(err) != hookd.ECONFLICT ||
		!strings.Contains(err.Error(), file) {
		t.Fatalf("an API change of a file's endpoint: %v", err)
	}

	// --watch: an edit is applied.
	write(strings.Replace(v1, `events: ["order.*"]`, `events: ["order.*", "refund.*"]`, 1))
	waitFor(t, 15*time.Second, func() bool {
		e, err := c.GetEndpoint(ctx, "shop", ep.ID)
		return err == nil && len(e.Events) == 2
	})
	// A broken edit changes nothing.
	write(strings.Replace(v1, "url: ${HOOK_URL}/orders", "url: ${NOT_SET}/orders", 1))
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(p.log.String(), "NOT_SET") })
	if e, err := c.GetEndpoint(ctx, "shop", ep.ID); err != nil || len(e.Events) != 2 || e.URL != recv.URL+"/orders" {
		t.Fatalf("after a broken file: %+v %v", e, err)
	}
	// SIGHUP applies the file as it is now (fixed, one pattern again).
	write(v1)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool {
		e, err := c.GetEndpoint(ctx, "shop", ep.ID)
		return err == nil && len(e.Events) == 1
	})

	// The CLI: validate offline, apply a second file through the API, export.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("tenants:\n  - id: x\n    nmae: X\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, p.url, key, "validate", bad); err == nil || !strings.Contains(out, "bad.yaml:3") {
		t.Fatalf("validate of a bad file: %v\n%s", err, out)
	}
	ci := filepath.Join(dir, "ci.yaml")
	if err := os.WriteFile(ci, []byte("tenants:\n  - id: ci\n    name: CI\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, p.url, key, "apply", "-f", ci, "--dry-run"); err != nil || !strings.Contains(out, "+ tenant ci") || !strings.Contains(out, "dry run") {
		t.Fatalf("apply --dry-run: %v\n%s", err, out)
	}
	if _, err := c.GetTenant(ctx, "ci"); hookd.ErrorCode(err) != hookd.ENOTFOUND {
		t.Fatalf("a dry run created the tenant: %v", err)
	}
	if out, err := runCLI(t, p.url, key, "apply", "-f", ci); err != nil || !strings.Contains(out, "+ tenant ci") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err := runCLI(t, p.url, key, "apply", "-f", ci); err != nil || !strings.Contains(out, "nothing to change") {
		t.Fatalf("apply again: %v\n%s", err, out)
	}
	out, err := runCLI(t, p.url, key, "export", "--tenant", "shop")
	if err != nil || !strings.Contains(out, "name: fulfilment") {
		t.Fatalf("export: %v\n%s", err, out)
	}

	// Round trip of a tenant made through the API: its export, applied,
	// changes nothing but taking the resources over.
	if _, err := c.CreateTenant(ctx, "made", "Made by hand"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateEndpoint(ctx, "made", &hookd.Endpoint{Name: "hand", URL: recv.URL + "/hand", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	exported, err := runCLI(t, p.url, key, "export", "--tenant", "made")
	if err != nil {
		t.Fatal(err)
	}
	round := filepath.Join(dir, "made.yaml")
	if err := os.WriteFile(round, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, p.url, key, "apply", "-f", round, "--dry-run")
	if err != nil || !strings.Contains(out, "~ endpoint made/hand (adopt)") || strings.Contains(out, "+ ") || strings.Contains(out, "- ") {
		t.Fatalf("round trip plan: %v\n%s", err, out)
	}
}
