package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookd/hookd"
)

// KeySize is the length of a master key in bytes (AES-256).
const KeySize = 32

// prefix marks sealed values: "v1:<key id>:<base64 nonce+ciphertext>".
const prefix = "v1:"

// Vault seals and opens secrets. It holds one primary key that seals and any
// number of older keys that can still open (during master key rotation).
type Vault struct {
	primary *key
	keys    map[string]*key
}

type key struct {
	id   string
	aead cipher.AEAD
}

var _ hookd.Cipher = (*Vault)(nil)

// New returns a Vault sealing with primary and opening with primary or any of old.
func New(primary []byte, old ...[]byte) (*Vault, error) {
	v := &Vault{keys: map[string]*key{}}
	for i, raw := range append([][]byte{primary}, old...) {
		k, err := newKey(raw)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			v.primary = k
		}
		v.keys[k.id] = k
	}
	return v, nil
}

func newKey(raw []byte) (*key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// The key id is a short hash: enough to pick the key, useless to attack it.
	sum := sha256.Sum256(append([]byte("hookd-master-key-id:"), raw...))
	return &key{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// KeyID is the id of the primary key, as written into sealed values.
func (v *Vault) KeyID() string { return v.primary.id }

// Seal encrypts plaintext with the primary key. The result is printable.
func (v *Vault) Seal(plaintext []byte) (string, error) {
	nonce := make([]byte, v.primary.aead.NonceSize(), v.primary.aead.NonceSize()+len(plaintext)+v.primary.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := v.primary.aead.Seal(nonce, nonce, plaintext, []byte(v.primary.id))
	return prefix + v.primary.id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with any key of the vault.
func (v *Vault) Open(sealed string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, errors.New("open: not a sealed value")
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, errors.New("open: malformed sealed value")
	}
	k := v.keys[id]
	if k == nil {
		return nil, fmt.Errorf("open: sealed with master key %s, which is not loaded", id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return nil, errors.New("open: malformed sealed value")
	}
	plain, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], []byte(id))
	if err != nil {
		return nil, errors.New("open: authentication failed (wrong master key or corrupted value)")
	}
	return plain, nil
}

// NeedsRotation reports whether sealed was made with a key other than the primary.
func (v *Vault) NeedsRotation(sealed string) bool {
	rest, _ := strings.CutPrefix(sealed, prefix)
	id, _, _ := strings.Cut(rest, ":")
	return id != v.primary.id
}

// ParseKey decodes a master key given as 64 hex characters or standard base64.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, fmt.Errorf("master key must be %d bytes as 64 hex characters or base64", KeySize)
}

// NewKey returns a random master key encoded as hex.
func NewKey() string {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// LoadOrCreateKeyFile reads the master key from path, or creates the file
// with a new key (mode 0600) if it does not exist. created reports the latter.
func LoadOrCreateKeyFile(path string) (k []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if info, serr := os.Stat(path); serr == nil && info.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("master key file %s is readable by others (mode %o); chmod 600 it", path, info.Mode().Perm())
		}
		k, err = ParseKey(string(b))
		return k, false, err
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	enc := NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	k, err = ParseKey(enc)
	return k, true, err
}
