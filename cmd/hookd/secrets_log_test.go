package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

// A full run at debug level — keys, a token, endpoints whose requests
// succeed and fail, retries — and then a search of everything the server
// logged for every secret it was given or made, the master key included.
func TestNoSecretInLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	ctx := context.Background()
	dir := t.TempDir()
	admin := hookd.NewAPIKeySecret()
	masterKey := strings.Repeat("5a", 32)
	p := startHookd(t, []string{"HOOKD_ADMIN_KEY=" + admin, "HOOKD_MASTER_KEY=" + masterKey},
		"--dev", "--db", filepath.Join(dir, "logs.db"), "--log-level", "debug")
	super := client.New(p.url, admin)

	var fail atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer recv.Close()

	if _, err := super.CreateTenant(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	_, adminKey, err := super.CreateKey(ctx, "acme", client.KeyRequest{Name: "ci", Role: hookd.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	acme := client.New(p.url, adminKey)
	tok, err := acme.CreateToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	viaToken := client.New(p.url, tok.Token)
	secrets := []string{admin, masterKey, adminKey, tok.Token}
	for _, sig := range []hookd.SignatureScheme{hookd.SchemeStandard, hookd.SchemeTimestamped, hookd.SchemeHMAC} {
		_, secret, err := viaToken.CreateEndpoint(ctx, "acme", &hookd.Endpoint{URL: recv.URL, Events: []string{"*"},
			Signatures: []hookd.Signature{{Scheme: sig}}, RetrySchedule: []hookd.Duration{0, hookd.Duration(100 * time.Millisecond)}})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	// A wrong key and a malformed header are refused (and must not be logged either).
	wrong := hookd.NewAPIKeySecret()
	secrets = append(secrets, wrong)
	if _, err := client.New(p.url, wrong).ListEndpoints(ctx, "acme", hookdPage()); err == nil {
		t.Fatal("a wrong key was accepted")
	}

	// The receiving side: a GitHub source (signed requests, one with a
	// wrong secret) and an apikey source called with the key in the query.
	sourceSecret := "gh-" + hookd.NewAPIKeySecret()
	secrets = append(secrets, sourceSecret)
	if _, err := acme.CreateSource(ctx, "acme", client.SourceInput{Name: "gh", Verifier: &client.SourceVerifierInput{
		SourceVerifier: hookd.SourceVerifier{Type: "github"}, Secrets: []string{sourceSecret}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.CreateSource(ctx, "acme", client.SourceInput{Name: "by-key", Verifier: &client.SourceVerifierInput{
		SourceVerifier: hookd.SourceVerifier{Type: "apikey"}}}); err != nil {
		t.Fatal(err)
	}
	var sigs []string
	for _, secret := range []string{sourceSecret, "wrong-secret"} {
		out, _ := runCLI(t, p.url, adminKey, "send", "gh", "--server", p.url, "--provider", "github", "--secret", secret,
			"--event", "push", "--data", `{"ref":"refs/heads/main"}`)
		if secret == sourceSecret && !strings.Contains(out, "202") {
			t.Fatalf("signed request: %s", out)
		}
	}
	resp, err := http.Post(p.url+"/v1/webhooks/by-key?st2-api-key="+adminKey, "application/json", strings.NewReader(`{"x":1}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("apikey source: %v %v", resp, err)
	}
	resp.Body.Close()
	triggers, err := acme.ListTriggers(ctx, "acme", "", "", hookd.Page{Limit: 10})
	if err != nil || len(triggers.Data) != 2 {
		t.Fatalf("triggers: %v %v", triggers, err)
	}
	for _, tr := range triggers.Data {
		full, err := acme.GetTrigger(ctx, "acme", tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sig := full.Headers["X-Hub-Signature-256"]; sig != "" {
			sigs = append(sigs, sig)
		}
		for _, s := range []string{sourceSecret, adminKey} {
			if strings.Contains(fmt.Sprint(full.Headers, full.Query), s) {
				t.Errorf("a stored trigger holds a secret: %v %v", full.Headers, full.Query)
			}
		}
	}
	for _, sig := range sigs {
		if sig != "[redacted]" {
			t.Errorf("a stored trigger holds the signature %q", sig)
		}
	}

	count := func(st hookd.DeliveryState) func() bool {
		return func() bool {
			l, err := acme.ListDeliveries(ctx, "acme", hookd.DeliveryFilter{State: st})
			return err == nil && len(l.Data) == 3
		}
	}
	if _, err := viaToken.Publish(ctx, "acme", "order.created", []byte(`{"n":1}`), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, count(hookd.DeliverySucceeded))
	fail.Store(true)
	if _, err := acme.Publish(ctx, "acme", "order.failed", []byte(`{"n":2}`), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, count(hookd.DeliveryDead))
	if err := acme.RevokeKey(ctx, "acme", mustKeyID(t, super, "ci")); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// Nothing in the database file is a secret in plain text.
	for _, f := range []string{"logs.db", "logs.db-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if s != masterKey && bytes.Contains(raw, []byte(s)) {
				t.Errorf("%s holds a secret in plain text: %s...", f, s[:8])
			}
		}
	}

	logs := p.log.String()
	if !strings.Contains(logs, "level=DEBUG") {
		t.Fatalf("no debug logging happened; the test proves nothing:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the logs: %s...", s[:8])
		}
		// The part after a prefix alone is a secret too.
		if i := strings.IndexByte(s, '_'); i > 0 && strings.Contains(logs, s[i+1:]) {
			t.Errorf("a secret's body appears in the logs: %s...", s[:8])
		}
	}
}

func mustKeyID(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	l, err := c.ListKeys(context.Background(), "acme", hookd.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range l.Data {
		if k.Name == name {
			return k.ID
		}
	}
	t.Fatal("key not found")
	return ""
}
