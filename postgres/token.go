package postgres

import (
	"context"
	"time"

	"github.com/hookd/hookd"
)

// CreateToken stores t (ID and CreatedAt set if empty); ENOTFOUND if its
// key does not exist, ECONFLICT if its hash does.
func (s *Store) CreateToken(ctx context.Context, t *hookd.Token) error {
	id, created := t.ID, micro(t.CreatedAt)
	if id == "" {
		id = hookd.NewID(hookd.PrefixToken)
	}
	if t.CreatedAt.IsZero() {
		created = s.clock()
	}
	expires := micro(t.ExpiresAt)
	err := s.change(ctx, func(q querier, a *auditLog) error {
		var tenant string
		err := q.QueryRow(ctx, `INSERT INTO tokens (id, key_id, hash, created_at, expires_at)
			SELECT $1, k.id, $3, $4, $5 FROM api_keys k WHERE k.id = $2
			RETURNING (SELECT coalesce(tenant_id, '') FROM api_keys WHERE id = $2)`,
			id, t.KeyID, t.Hash, created, expires).Scan(&tenant)
		if err != nil {
			return s.notFound(err, "API key")
		}
		c := *t
		c.ID, c.CreatedAt, c.ExpiresAt = id, created, expires
		a.record(tenant, hookd.ActionTokenCreate, hookd.ResourceToken, id, nil, a.snapshot(&c))
		return nil
	})
	if err != nil {
		return err
	}
	t.ID, t.CreatedAt, t.ExpiresAt = id, created, expires
	return nil
}

// FindTokenByHash returns the token with hash and its key, expired ones
// included; ENOTFOUND if none.
func (s *Store) FindTokenByHash(ctx context.Context, hash string) (*hookd.Token, error) {
	var t hookd.Token
	var k hookd.APIKey
	var tenant *string
	var role string
	err := s.pool.QueryRow(ctx, `SELECT t.id, t.key_id, t.hash, t.created_at, t.expires_at,
			k.id, k.tenant_id, k.role, k.name, k.hash, k.created_at, k.last_used_at, k.expires_at, k.revoked_at
		FROM tokens t JOIN api_keys k ON k.id = t.key_id WHERE t.hash = $1`, hash).
		Scan(&t.ID, &t.KeyID, &t.Hash, &t.CreatedAt, &t.ExpiresAt,
			&k.ID, &tenant, &role, &k.Name, &k.Hash, &k.CreatedAt, &k.LastUsedAt, &k.ExpiresAt, &k.RevokedAt)
	if err != nil {
		return nil, s.notFound(err, "Token")
	}
	if tenant != nil {
		k.TenantID = *tenant
	}
	k.Role, k.CreatedAt = hookd.Role(role), k.CreatedAt.UTC()
	k.LastUsedAt, k.ExpiresAt, k.RevokedAt = utcPtr(k.LastUsedAt), utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
	t.CreatedAt, t.ExpiresAt, t.Key = t.CreatedAt.UTC(), t.ExpiresAt.UTC(), &k
	return &t, nil
}

// DeleteExpiredTokens removes tokens that expired at or before before.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE expires_at <= $1`, micro(before))
	if err != nil {
		return 0, s.fail(err)
	}
	return int(tag.RowsAffected()), nil
}
