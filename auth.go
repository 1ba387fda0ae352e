package hookd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
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

// KeyPrefix starts every API key hookd generates, so leaked keys are easy to
// recognise by secret scanners.
const KeyPrefix = "hk_"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewAPIKeySecret returns a new random API key: KeyPrefix and 43 base62
// characters (256 bits).
func NewAPIKeySecret() string {
	b := make([]byte, 0, len(KeyPrefix)+43)
	b = append(b, KeyPrefix...)
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

// HashAPIKey returns the stored form of a key: hex SHA-256. Keys carry 256
// random bits, so a fast hash is enough and lookups stay O(1).
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Principal is the authenticated caller of a request.
type Principal struct {
	KeyID    string
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
