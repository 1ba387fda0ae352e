package hookd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
	"time"
)

// Role is what an API key may do.
type Role string

// Roles. A superadmin key belongs to no tenant and acts on all of them.
const (
	RoleSuperadmin Role = "superadmin"
	RoleAdmin      Role = "admin"  // read and change its own tenant
	RoleViewer     Role = "viewer" // read its own tenant, never secrets
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	return r == RoleSuperadmin || r == RoleAdmin || r == RoleViewer
}

// APIKey is a stored credential. The key itself is shown once at creation;
// only its hash is kept.
type APIKey struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant,omitempty"` // "" for superadmin keys
	Role       Role       `json:"role"`
	Name       string     `json:"name"`
	Hash       string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Usable reports whether the key may authenticate at time now.
func (k *APIKey) Usable(now time.Time) bool {
	if k.RevokedAt != nil {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// Validate returns EINVALID unless the key's role, tenant and name fit
// together: a superadmin key belongs to no tenant, admin and viewer keys to
// exactly one; a name has at most 200 characters.
func (k *APIKey) Validate() error {
	switch {
	case !k.Role.Valid():
		return Errorf(EINVALID, "Unknown role %q: use admin, viewer or superadmin.", k.Role)
	case k.Role == RoleSuperadmin && k.TenantID != "":
		return Errorf(EINVALID, "A superadmin key belongs to no tenant.")
	case k.Role != RoleSuperadmin && k.TenantID == "":
		return Errorf(EINVALID, "An %s key belongs to a tenant.", k.Role)
	case len(k.Name) > 200:
		return Errorf(EINVALID, "Key name must be at most 200 characters.")
	case strings.ContainsAny(k.Name, "\x00\r\n"):
		return Errorf(EINVALID, "Key name must be one line of text.")
	}
	return nil
}

// KeyPrefix starts every API key hookd generates, so leaked keys are easy to
// recognise by secret scanners.
const KeyPrefix = "hk_"

// TokenPrefix starts every token hookd mints; it tells a token from a key
// before any lookup.
const TokenPrefix = "hkt_"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewAPIKeySecret returns a new random API key: KeyPrefix and 43 base62
// characters (256 bits).
func NewAPIKeySecret() string { return randomCredential(KeyPrefix) }

// NewTokenSecret returns a new random token: TokenPrefix and 43 base62
// characters (256 bits).
func NewTokenSecret() string { return randomCredential(TokenPrefix) }

func randomCredential(prefix string) string {
	b := make([]byte, 0, len(prefix)+43)
	b = append(b, prefix...)
	max := big.NewInt(int64(len(base62)))
	for i := 0; i < 43; i++ {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		b = append(b, base62[n.Int64()])
	}
	return string(b)
}

// HashAPIKey returns the stored form of a key or token: hex SHA-256. Both
// carry 256 random bits, so a fast hash is enough and lookups stay O(1).
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Token lifetimes: a token lives DefaultTokenTTL unless asked otherwise,
// and between MinTokenTTL and MaxTokenTTL.
const (
	DefaultTokenTTL = 24 * time.Hour
	MinTokenTTL     = time.Minute
	MaxTokenTTL     = 30 * 24 * time.Hour
)

// Token is a short-lived credential minted from an API key. It acts with
// its key's tenant and role and stops working when it expires or when its
// key is revoked, expires or is deleted. Only its hash is stored.
type Token struct {
	ID        string    `json:"id"`
	KeyID     string    `json:"key_id"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`

	// Key is the key the token was minted from; FindTokenByHash sets it.
	Key *APIKey `json:"-"`
}

// Usable reports whether the token may authenticate at time now: it has
// not expired and its key (when loaded) is usable.
func (t *Token) Usable(now time.Time) bool {
	return now.Before(t.ExpiresAt) && (t.Key == nil || t.Key.Usable(now))
}

// Principal is the authenticated caller of a request.
type Principal struct {
	KeyID    string // the key, or the key a token was minted from
	TokenID  string // set when the caller authenticated with a token
	TenantID string // "" for superadmin
	Role     Role
}

// CanRead reports whether p may read resources of tenant.
func (p Principal) CanRead(tenant string) bool {
	return p.Role == RoleSuperadmin || (p.TenantID == tenant && p.Role.Valid())
}

// CanWrite reports whether p may change resources of tenant.
func (p Principal) CanWrite(tenant string) bool {
	return p.Role == RoleSuperadmin || (p.TenantID == tenant && p.Role == RoleAdmin)
}
