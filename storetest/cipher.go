package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/vault"
)

// Reopener opens the store of one database, sealing secrets with c (nil
// for none). Each call opens it anew; the suite closes what it opened.
type Reopener func(c hookd.Cipher) hookd.Store

// RunCipher runs the tests of secrets at rest and master key rotation,
// which need one database opened with different ciphers. fresh returns a
// Reopener of a new, empty database.
func RunCipher(t *testing.T, fresh func(t *testing.T) Reopener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Reopener)
	}{
		{"ResealSecrets", testReseal},
		{"ResealFromPlainText", testResealPlain},
		{"ResealWrongKeyChangesNothing", testResealWrongKeyChangesNothing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, fresh(t))
		})
	}
}

func newVault(t *testing.T) *vault.Vault {
	t.Helper()
	k, err := vault.ParseKey(vault.NewKey())
	must(t, err)
	v, err := vault.New(k)
	must(t, err)
	return v
}

// secretEndpoint creates an endpoint in tenant acme with a new secret and
// returns it with the secret.
func secretEndpoint(t *testing.T, s hookd.Store) (*hookd.Endpoint, string) {
	t.Helper()
	secret := hookd.NewEndpointSecret()
	e := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com/hook", Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: secret, CreatedAt: time.Now().UTC()}}}
	e.SetDefaults()
	must(t, s.CreateEndpoint(ctx, e))
	return e, secret
}

// wantSecret fails unless the store reads the endpoint's secret as want.
func wantSecret(t *testing.T, s hookd.Store, id, want string) {
	t.Helper()
	e, err := s.FindEndpointByID(ctx, "acme", id)
	must(t, err)
	if len(e.Secrets) != 1 || e.Secrets[0].Value != want {
		t.Fatalf("endpoint %s secret does not read back", id)
	}
}

// wantUnreadable fails if the store can read the endpoint's secrets.
func wantUnreadable(t *testing.T, s hookd.Store, id string) {
	t.Helper()
	if e, err := s.FindEndpointByID(ctx, "acme", id); err == nil {
		t.Fatalf("endpoint %s reads with the wrong master key: %d secrets", id, len(e.Secrets))
	}
}

func testReseal(t *testing.T, open Reopener) {
	oldKey, newKey := newVault(t), newVault(t)
	s := open(oldKey)
	tenant(t, s, "acme")
	a, secretA := secretEndpoint(t, s)
	b, _ := secretEndpoint(t, s)
	must(t, s.DeleteEndpoint(ctx, "acme", b.ID)) // deleted endpoints keep sealed secrets too
	c, secretC := secretEndpoint(t, s)
	// Rotate the secrets: the previous one stays sealed with the current.
	exp := time.Now().Add(time.Hour).UTC()
	secrets := []hookd.Secret{{Value: hookd.NewEndpointSecret(), CreatedAt: time.Now().UTC()}, {Value: secretC, CreatedAt: time.Now().UTC(), ExpiresAt: &exp}}
	_, err := s.UpdateEndpoint(ctx, "acme", c.ID, hookd.EndpointUpdate{Secrets: &secrets})
	must(t, err)

	src := &hookd.Source{TenantID: "acme", Name: "github/acme", Verifier: hookd.SourceVerifier{Type: "github", Secrets: []string{"s3cret-one", "s3cret-two"}}}
	src.SetDefaults()
	must(t, s.(hookd.InboundStore).CreateSource(ctx, src))

	n, err := s.ResealSecrets(ctx, oldKey, newKey)
	must(t, err)
	if n != 4 {
		t.Fatalf("resealed %d values, want 4 (three endpoints and a source)", n)
	}
	// Again: everything is sealed with the new key already.
	if n, err := s.ResealSecrets(ctx, oldKey, newKey); err != nil || n != 0 {
		t.Fatalf("second rotation resealed %d (%v), want 0", n, err)
	}

	withNew := open(newKey)
	wantSecret(t, withNew, a.ID, secretA)
	got, err := withNew.FindEndpointByID(ctx, "acme", c.ID)
	must(t, err)
	if len(got.Secrets) != 2 || got.Secrets[0].Value != secrets[0].Value || got.Secrets[1].Value != secretC || got.Secrets[1].ExpiresAt == nil {
		t.Fatalf("rotated endpoint's secrets do not read back: %d", len(got.Secrets))
	}
	gotSrc, err := withNew.(hookd.InboundStore).FindSourceByID(ctx, "acme", src.ID)
	must(t, err)
	if len(gotSrc.Verifier.Secrets) != 2 || gotSrc.Verifier.Secrets[1] != "s3cret-two" {
		t.Fatal("the source's secrets do not read back after the rotation")
	}
	withOld := open(oldKey)
	wantUnreadable(t, withOld, a.ID)
	wantUnreadable(t, withOld, c.ID)
	if _, err := withOld.(hookd.InboundStore).FindSourceByID(ctx, "acme", src.ID); err == nil {
		t.Fatal("a source reads with the old master key after the rotation")
	}
	// The deleted endpoint's row was resealed as well: a rotation back to
	// the old key touches all four again.
	if n, err := withNew.ResealSecrets(ctx, newKey, oldKey); err != nil || n != 4 {
		t.Fatalf("rotation back resealed %d (%v), want 4", n, err)
	}
	wantSecret(t, open(oldKey), a.ID, secretA)
}

func testResealPlain(t *testing.T, open Reopener) {
	s := open(nil)
	tenant(t, s, "acme")
	a, secret := secretEndpoint(t, s)
	key := newVault(t)
	n, err := s.ResealSecrets(ctx, nil, key)
	must(t, err)
	if n != 1 {
		t.Fatalf("resealed %d values, want 1", n)
	}
	wantSecret(t, open(key), a.ID, secret)
	wantUnreadable(t, open(nil), a.ID)
	_, err = s.ResealSecrets(ctx, key, nil)
	wantCode(t, err, hookd.EINVALID)
}

func testResealWrongKeyChangesNothing(t *testing.T, open Reopener) {
	oldKey, wrong, newKey := newVault(t), newVault(t), newVault(t)
	s := open(oldKey)
	tenant(t, s, "acme")
	a, secretA := secretEndpoint(t, s)
	_, err := s.ResealSecrets(ctx, wrong, newKey)
	wantCode(t, err, hookd.EINVALID)
	if !strings.Contains(hookd.ErrorMessage(err), a.ID) {
		t.Fatalf("the error should name the endpoint: %v", err)
	}
	wantSecret(t, open(oldKey), a.ID, secretA)
	wantUnreadable(t, open(newKey), a.ID)
	// One row that opens and one that does not: all or nothing.
	secretEndpoint(t, open(wrong))
	_, err = s.ResealSecrets(ctx, oldKey, newKey)
	wantCode(t, err, hookd.EINVALID)
	wantSecret(t, open(oldKey), a.ID, secretA)
	wantUnreadable(t, open(newKey), a.ID)
}
