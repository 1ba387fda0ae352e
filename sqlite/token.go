package sqlite

import (
	"context"
	"time"

	"github.com/hookd/hookd"
)

// CreateToken stores t; ENOTFOUND if its key does not exist.
func (s *Store) CreateToken(ctx context.Context, t *hookd.Token) error {
	if t.ID == "" {
		t.ID = hookd.NewID(hookd.PrefixToken)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC()
	}
	return s.exec(ctx, func(w *writer) error {
		var tenant string
		if err := w.QueryRow(`SELECT coalesce(tenant_id, '') FROM api_keys WHERE id = ?`, t.KeyID).Scan(&tenant); err != nil {
			return notFound(err, "API key")
		}
		_, err := w.Exec(`INSERT INTO tokens (id, key_id, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.KeyID, t.Hash, ns(t.CreatedAt), ns(t.ExpiresAt))
		if err != nil {
			return err
		}
		return s.audit(ctx, w, tenant, hookd.ActionTokenCreate, hookd.ResourceToken, t.ID, nil, hookd.Snapshot(ctx, t))
	})
}

// FindTokenByHash returns the token with hash and its key, expired ones
// included; ENOTFOUND if none.
func (s *Store) FindTokenByHash(ctx context.Context, hash string) (*hookd.Token, error) {
	var t hookd.Token
	var created, expires int64
	k, err := scanKey(scanFunc(func(dest ...any) error {
		return s.read.QueryRowContext(ctx, `SELECT t.id, t.key_id, t.hash, t.created_at, t.expires_at,
				k.id, k.tenant_id, k.role, k.name, k.hash, k.created_at, k.last_used_at, k.expires_at, k.revoked_at
			FROM tokens t JOIN api_keys k ON k.id = t.key_id WHERE t.hash = ?`, hash).
			Scan(append([]any{&t.ID, &t.KeyID, &t.Hash, &created, &expires}, dest...)...)
	}))
	if err != nil {
		return nil, notFound(err, "Token")
	}
	t.CreatedAt, t.ExpiresAt, t.Key = fromNS(created), fromNS(expires), k
	return &t, nil
}

// scanFunc adapts a function to the Scan method scanners take.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// DeleteExpiredTokens removes tokens that expired at or before before.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.exec(ctx, func(w *writer) error {
		res, err := w.Exec(`DELETE FROM tokens WHERE expires_at <= ?`, ns(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
