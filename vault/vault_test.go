package vault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k1, _ := ParseKey(NewKey())
	v, err := New(k1)
	if err != nil {
		t.Fatal(err)
	}
	secret := "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
	a, err := v.Seal([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := v.Seal([]byte(secret))
	if a == b {
		t.Fatal("two seals of one value must differ (random nonce)")
	}
	if strings.Contains(a, secret) || strings.Contains(a, "c2VjcmV0") {
		t.Fatalf("sealed value shows the secret: %s", a)
	}
	got, err := v.Open(a)
	if err != nil || string(got) != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}

	// Tampering is detected.
	tampered := a[:len(a)-2] + "AA"
	if tampered != a {
		if _, err := v.Open(tampered); err == nil {
			t.Fatal("tampered value opened")
		}
	}
	// Another key cannot open it.
	k2, _ := ParseKey(NewKey())
	other, _ := New(k2)
	if _, err := other.Open(a); err == nil {
		t.Fatal("opened with the wrong key")
	}
	// Rotation: a vault with the new primary and the old key opens old values
	// and knows they need re-sealing.
	rot, _ := New(k2, k1)
	if got, err := rot.Open(a); err != nil || string(got) != secret {
		t.Fatalf("rotated Open = %q, %v", got, err)
	}
	if !rot.NeedsRotation(a) {
		t.Fatal("value sealed with the old key must need rotation")
	}
	resealed, _ := rot.Seal([]byte(secret))
	if rot.NeedsRotation(resealed) {
		t.Fatal("freshly sealed value must not need rotation")
	}
	for _, bad := range []string{"", "plain", "v1:", "v1:abcd", "v1:abcd:!!!", "v1:" + v.KeyID() + ":AAAA"} {
		if _, err := v.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "short", strings.Repeat("z", 64), strings.Repeat("ab", 31)} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	if _, err := ParseKey(NewKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKey("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); err != nil {
		t.Fatalf("base64 key: %v", err)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("create: %v %v %d", err, created, len(k1))
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || string(k1) != string(k2) {
		t.Fatalf("reload: %v %v same=%v", err, created, string(k1) == string(k2))
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Fatal("a world-readable key file must be refused")
	}
}
