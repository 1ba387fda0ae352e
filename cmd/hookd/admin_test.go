package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/sqlite"
	"github.com/hookd/hookd/vault"
)

// adminAPI serves the API over a SQLite store in-process and returns its
// URL and a superadmin key.
func adminAPI(t *testing.T) (string, string) {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "admin.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hookdhttp.NewServer(hookdhttp.Config{Store: s}).Handler())
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	key := hookd.NewAPIKeySecret()
	if err := s.CreateAPIKey(context.Background(), &hookd.APIKey{Role: hookd.RoleSuperadmin, Name: "root", Hash: hookd.HashAPIKey(key)}); err != nil {
		t.Fatal(err)
	}
	return srv.URL, key
}

// admin runs a command in-process with the given environment.
func admin(t *testing.T, environ map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	env := Env{Stdout: &out, Stderr: &out, Getenv: func(name string) string { return environ[name] }}
	err := Run(context.Background(), args, env)
	return out.String(), err
}

func TestAdminCommands(t *testing.T) {
	url, root := adminAPI(t)
	su := map[string]string{"HOOKD_SERVER": url, "HOOKD_KEY": root}
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
	usage := func(out string, err error) {
		t.Helper()
		var u usageError
		if !errors.As(err, &u) {
			t.Fatalf("want a usage error, got %v\n%s", err, out)
		}
	}

	if out := must(admin(t, su, "tenants", "create", "acme", "--name", "Acme")); !strings.Contains(out, "Created tenant acme") {
		t.Fatalf("create: %s", out)
	}
	if out := must(admin(t, su, "tenants", "list")); !strings.Contains(out, "acme") || !strings.Contains(out, "Acme") {
		t.Fatalf("list: %s", out)
	}
	must(admin(t, su, "tenants", "update", "acme", "--name", "Acme Inc"))
	var tenant hookd.Tenant
	if err := json.Unmarshal([]byte(must(admin(t, su, "tenants", "get", "acme", "--json"))), &tenant); err != nil || tenant.Name != "Acme Inc" {
		t.Fatalf("get --json: %+v %v", tenant, err)
	}
	usage(admin(t, su, "tenants", "update", "acme"))

	// Keys: a tenant's with --tenant, superadmin keys without.
	out := must(admin(t, su, "keys", "create", "--tenant", "acme", "--role", "admin", "--name", "ci", "--ttl", "720h", "--json"))
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Key, hookd.KeyPrefix) {
		t.Fatalf("keys create --json = %s (%v)", out, err)
	}
	if out := must(admin(t, su, "keys", "create", "--role", "superadmin", "--name", "ops")); !strings.Contains(out, "shown only this once") {
		t.Fatalf("superadmin key: %s", out)
	}
	usage(admin(t, su, "keys", "create", "--role", "admin"))
	usage(admin(t, su, "keys", "create", "--tenant", "acme", "--role", "superadmin"))
	usage(admin(t, su, "keys", "create", "--tenant", "acme"))
	usage(admin(t, su, "keys", "create", "--tenant", "acme", "--role", "viewer", "--ttl", "1h", "--expires", "2030-01-01T00:00:00Z"))
	out = must(admin(t, su, "keys", "list", "--tenant", "acme"))
	if !strings.Contains(out, created.ID) || !strings.Contains(out, "ci") || strings.Contains(out, created.Key) {
		t.Fatalf("keys list --tenant: %s", out)
	}
	if out := must(admin(t, su, "keys", "list")); !strings.Contains(out, "ops") || strings.Contains(out, created.ID) {
		t.Fatalf("keys list (superadmin keys): %s", out)
	}

	// The tenant's admin mints a token and works with it; HOOKD_TENANT
	// chooses the tenant like --tenant.
	ci := map[string]string{"HOOKD_SERVER": url, "HOOKD_KEY": created.Key, "HOOKD_TENANT": "acme"}
	out = must(admin(t, ci, "tokens", "create", "--ttl", "1h", "--json"))
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(out), &tok); err != nil || !strings.HasPrefix(tok.Token, hookd.TokenPrefix) {
		t.Fatalf("tokens create = %s (%v)", out, err)
	}
	withToken := map[string]string{"HOOKD_SERVER": url, "HOOKD_KEY": tok.Token, "HOOKD_TENANT": "acme"}
	must(admin(t, withToken, "keys", "create", "--role", "viewer", "--name", "dash"))
	if out := must(admin(t, ci, "audit")); !strings.Contains(out, "key.create") || !strings.Contains(out, "token.create") || !strings.Contains(out, "(token tok_") {
		t.Fatalf("audit of acme: %s", out)
	}
	if out := must(admin(t, su, "audit", "--action", "tenant.*")); !strings.Contains(out, "tenant.update") || strings.Contains(out, "key.create") {
		t.Fatalf("whole audit log, tenant actions: %s", out)
	}
	if _, err := admin(t, map[string]string{"HOOKD_SERVER": url, "HOOKD_KEY": created.Key}, "audit"); hookd.ErrorCode(err) != hookd.EFORBIDDEN {
		t.Fatalf("an admin reading the whole log: %v", err)
	}

	// Revoking the key ends it and its token.
	must(admin(t, su, "keys", "revoke", created.ID, "--tenant", "acme"))
	if _, err := admin(t, withToken, "keys", "list"); hookd.ErrorCode(err) != hookd.EUNAUTHORIZED {
		t.Fatalf("token of a revoked key: %v", err)
	}

	// Deleting a tenant needs the confirmation.
	usage(admin(t, su, "tenants", "delete", "acme"))
	usage(admin(t, su, "tenants", "delete", "acme", "--confirm", "beta"))
	must(admin(t, su, "tenants", "get", "acme"))
	must(admin(t, su, "tenants", "delete", "acme", "--confirm", "acme"))
	if _, err := admin(t, su, "tenants", "get", "acme"); hookd.ErrorCode(err) != hookd.ENOTFOUND {
		t.Fatalf("deleted tenant: %v", err)
	}
}

func TestRotateMasterKey(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "hookd.db")
	oldRaw, created, err := vault.LoadOrCreateKeyFile(filepath.Join(dir, "hookd.key"))
	if err != nil || !created {
		t.Fatal(err)
	}
	oldKey, _ := vault.New(oldRaw)
	s, err := sqlite.Open(db, sqlite.Options{Cipher: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secret := hookd.NewEndpointSecret()
	ep := &hookd.Endpoint{TenantID: "default", URL: "https://example.com", Events: []string{"*"}, Secrets: []hookd.Secret{{Value: secret, CreatedAt: time.Now()}}}
	ep.SetDefaults()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "default"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	s.Close()

	env := map[string]string{"HOOKD_DB": db}
	newFile := filepath.Join(dir, "next.key")
	if _, err := admin(t, env, "rotate-master-key"); err == nil {
		t.Fatal("rotation without --new-key-file")
	}
	if _, err := admin(t, env, "rotate-master-key", "--new-key-file", filepath.Join(dir, "hookd.key")); err == nil {
		t.Fatal("rotation onto the current key file")
	}
	if _, err := admin(t, env, "rotate-master-key", "--master-key-file", filepath.Join(dir, "missing.key"), "--new-key-file", newFile); err == nil {
		t.Fatal("rotation without the current key")
	}
	if _, err := os.Stat(newFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused rotation created the new key file")
	}
	out, err := admin(t, env, "rotate-master-key", "--new-key-file", newFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Generated a new master key in "+newFile) || !strings.Contains(out, "of 1 endpoints") || !strings.Contains(out, "--master-key-file "+newFile) {
		t.Fatalf("rotation output:\n%s", out)
	}
	info, err := os.Stat(newFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v, mode %v", err, info.Mode().Perm())
	}
	newRaw, created, err := vault.LoadOrCreateKeyFile(newFile)
	if err != nil || created {
		t.Fatal(err)
	}
	newKey, _ := vault.New(newRaw)
	for _, c := range []struct {
		key  *vault.Vault
		want bool
	}{{newKey, true}, {oldKey, false}} {
		s, err := sqlite.Open(db, sqlite.Options{Cipher: c.key})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.FindEndpointByID(ctx, "default", ep.ID)
		if ok := err == nil && got.Secrets[0].Value == secret; ok != c.want {
			t.Fatalf("read with key %s: %v, want readable %v", c.key.KeyID(), err, c.want)
		}
		s.Close()
	}
	// Run again (the operator has not switched keys yet): nothing to do.
	out, err = admin(t, env, "rotate-master-key", "--new-key-file", newFile)
	if err != nil || !strings.Contains(out, "of 0 endpoints") || strings.Contains(out, "Generated") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	// With the new key current and HOOKD_MASTER_KEY naming it.
	env["HOOKD_MASTER_KEY"] = strings.TrimSpace(string(must1(os.ReadFile(newFile))))
	if out, err := admin(t, env, "rotate-master-key", "--new-key-file", newFile); err == nil {
		t.Fatalf("rotating onto the current key: %s", out)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
