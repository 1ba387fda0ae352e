package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
