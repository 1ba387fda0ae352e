package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/sqlite"
	"github.com/hookd/hookd/storetest"
	"github.com/hookd/hookd/vault"
)

func open(t *testing.T) hookd.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "hookd.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestCipherConformance(t *testing.T) {
	storetest.RunCipher(t, func(t *testing.T) storetest.Reopener {
		path := filepath.Join(t.TempDir(), "hookd.db")
		return func(c hookd.Cipher) hookd.Store {
			s, err := sqlite.Open(path, sqlite.Options{Cipher: c})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

// One failing request in a group rolls back only itself.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := open(t).(*sqlite.Store)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := "t" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
			if i == 25 {
				id = "ta" // duplicates request 0: must fail alone
			}
			errs[i] = s.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: "n"})
		}(i)
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			if hookd.ErrorCode(err) != hookd.ECONFLICT {
				t.Fatalf("unexpected error %v", err)
			}
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d requests failed, want exactly the duplicate", failed)
	}
	list, _, err := s.FindTenants(ctx, hookd.Page{Limit: 100})
	if err != nil || len(list) != 49 {
		t.Fatalf("tenants = %d, %v; want 49", len(list), err)
	}
}

func TestReopenKeepsDataAndMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookd.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(context.Background(), &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.FindTenant(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookd.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(context.Background(), &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s has mode %v, want no access for group and others", filepath.Base(f), info.Mode().Perm())
		}
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s := open(t)
	s.Close()
	err := s.CreateTenant(context.Background(), &hookd.Tenant{ID: "acme"})
	if hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("write after close: %v", err)
	}
	if _, err := s.FindTenant(context.Background(), "acme"); hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("read after close: %v", err)
	}
}

// With a cipher, no secret is in the database file in plain text.
func TestSecretsEncryptedAtRest(t *testing.T) {
	key, _ := vault.ParseKey(vault.NewKey())
	v, err := vault.New(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hookd.db")
	s, err := sqlite.Open(path, sqlite.Options{Cipher: v})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	secret := hookd.NewEndpointSecret()
	e := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com", Events: []string{"*"}, Secrets: []hookd.Secret{{Value: secret}}}
	e.SetDefaults()
	if err := s.CreateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindEndpointByID(ctx, "acme", e.ID)
	if err != nil || got.Secrets[0].Value != secret {
		t.Fatalf("secret round trip: %v", err)
	}
	s.Close()
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, needle := range []string{secret, strings.TrimPrefix(secret, "whsec_")[:20]} {
			if strings.Contains(string(b), needle) {
				t.Fatalf("%s holds the secret in plain text", filepath.Base(f))
			}
		}
	}
}

// fileHolds reports which of needles occur in the database's files.
func fileHolds(t *testing.T, path string, needles map[string]string) []string {
	t.Helper()
	var found []string
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for name, needle := range needles {
			if strings.Contains(string(b), needle) {
				found = append(found, name+" in "+filepath.Base(f))
			}
		}
	}
	return found
}

// No endpoint secret, API key or token is in the database's files in
// plain text, before or after a master key rotation, and a rotation from
// a database without encryption leaves no plain-text remnant behind.
func TestNoCredentialsInDatabaseFile(t *testing.T) {
	newVault := func() *vault.Vault {
		k, _ := vault.ParseKey(vault.NewKey())
		v, err := vault.New(k)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, plainFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "encrypted", true: "from plain text"}[plainFirst], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hookd.db")
			var first hookd.Cipher
			if !plainFirst {
				first = newVault()
			}
			s, err := sqlite.Open(path, sqlite.Options{Cipher: first})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
				t.Fatal(err)
			}
			key, tok := hookd.NewAPIKeySecret(), hookd.NewTokenSecret()
			k := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Name: "ci", Hash: hookd.HashAPIKey(key)}
			if err := s.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			ac := hookd.WithPrincipal(ctx, hookd.Principal{KeyID: k.ID, TenantID: "acme", Role: hookd.RoleAdmin})
			if err := s.CreateToken(ac, &hookd.Token{KeyID: k.ID, Hash: hookd.HashAPIKey(tok), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			secret, previous := hookd.NewEndpointSecret(), hookd.NewEndpointSecret()
			e := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com", Events: []string{"*"}, Secrets: []hookd.Secret{{Value: previous}}}
			e.SetDefaults()
			if err := s.CreateEndpoint(ac, e); err != nil {
				t.Fatal(err)
			}
			exp := time.Now().Add(time.Hour)
			secrets := []hookd.Secret{{Value: secret}, {Value: previous, ExpiresAt: &exp}}
			if _, err := s.UpdateEndpoint(ac, "acme", e.ID, hookd.EndpointUpdate{Secrets: &secrets}); err != nil {
				t.Fatal(err)
			}
			next := newVault()
			if n, err := s.ResealSecrets(ctx, first, next); err != nil || n != 1 {
				t.Fatalf("reseal: %d, %v", n, err)
			}
			s.Close()

			needles := map[string]string{"API key": key, "token": tok}
			for name, sec := range map[string]string{"secret": secret, "previous secret": previous} {
				needles[name] = sec
				needles[name+" (base64 part)"] = strings.TrimPrefix(sec, "whsec_")[:20]
			}
			if found := fileHolds(t, path, needles); len(found) > 0 {
				t.Fatalf("in plain text: %s", strings.Join(found, ", "))
			}
			// The key's hash is there (lookups need it), which shows the
			// search reads the data.
			if found := fileHolds(t, path, map[string]string{"hash": k.Hash}); len(found) == 0 {
				t.Fatal("the key hash is not in the file: the search reads nothing")
			}
			s, err = sqlite.Open(path, sqlite.Options{Cipher: next})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := s.FindEndpointByID(ctx, "acme", e.ID)
			if err != nil || got.Secrets[0].Value != secret || got.Secrets[1].Value != previous {
				t.Fatalf("secrets after rotation: %v", err)
			}
		})
	}
}
