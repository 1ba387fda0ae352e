package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// CreateAPIKey stores k (ID and CreatedAt set if empty); ECONFLICT if its
// hash exists, ENOTFOUND if its tenant does not.
func (s *Store) CreateAPIKey(ctx context.Context, k *hookd.APIKey) error {
	id, created := k.ID, micro(k.CreatedAt)
	if id == "" {
		id = hookd.NewID(hookd.PrefixKey)
	}
	if k.CreatedAt.IsZero() {
		created = s.clock()
	}
	var tenant *string
	if k.TenantID != "" {
		tenant = &k.TenantID
	}
	err := s.change(ctx, func(q querier, a *auditLog) error {
		_, err := q.Exec(ctx, `INSERT INTO api_keys (id, tenant_id, role, name, hash, created_at, last_used_at, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			id, tenant, string(k.Role), k.Name, k.Hash, created, microPtr(k.LastUsedAt), microPtr(k.ExpiresAt), microPtr(k.RevokedAt))
		if err != nil {
			return err
		}
		c := *k
		c.ID, c.CreatedAt, c.ExpiresAt = id, created, microPtr(k.ExpiresAt)
		a.record(k.TenantID, hookd.ActionKeyCreate, hookd.ResourceKey, id, nil, a.snapshot(&c))
		return nil
	})
	if err != nil {
		return err
	}
	k.ID, k.CreatedAt = id, created
	return nil
}

const keyColumns = `id, tenant_id, role, name, hash, created_at, last_used_at, expires_at, revoked_at`

func scanKey(row pgx.Row) (*hookd.APIKey, error) {
	var k hookd.APIKey
	var tenant *string
	var role string
	if err := row.Scan(&k.ID, &tenant, &role, &k.Name, &k.Hash, &k.CreatedAt, &k.LastUsedAt, &k.ExpiresAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	if tenant != nil {
		k.TenantID = *tenant
	}
	k.Role, k.CreatedAt = hookd.Role(role), k.CreatedAt.UTC()
	k.LastUsedAt, k.ExpiresAt, k.RevokedAt = utcPtr(k.LastUsedAt), utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
	return &k, nil
}

// FindAPIKeyByHash returns the key with hash, revoked and expired included;
// ENOTFOUND if none.
func (s *Store) FindAPIKeyByHash(ctx context.Context, hash string) (*hookd.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash))
	return k, s.notFound(err, "API key")
}

// FindAPIKeyByID returns the key with id; ENOTFOUND if none.
func (s *Store) FindAPIKeyByID(ctx context.Context, id string) (*hookd.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
	return k, s.notFound(err, "API key")
}

// FindAPIKeys lists keys by id, descending.
func (s *Store) FindAPIKeys(ctx context.Context, f hookd.APIKeyFilter) ([]*hookd.APIKey, string, error) {
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys
		WHERE ($1 = '' OR id < $1) AND ($2 = '' OR tenant_id = $2) AND ($3 = '' OR role = $3)
		ORDER BY id DESC LIMIT $4`, after, f.TenantID, string(f.Role), f.Size()+1)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanKey)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, f.Size(), func(k *hookd.APIKey) string { return k.ID })
	return list, next, nil
}

// RevokeAPIKey marks a key revoked at at (a revoked key keeps its first
// time and nothing changes); ENOTFOUND if there is no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, func(q querier, a *auditLog) error {
		var before *hookd.APIKey
		if a.on {
			var err error
			if before, err = scanKey(q.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1 FOR UPDATE`, id)); err != nil {
				return s.notFound(err, "API key")
			}
		}
		k, err := scanKey(q.QueryRow(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
			RETURNING `+keyColumns, id, micro(at)))
		if err == pgx.ErrNoRows {
			// Revoked already (nothing changes), or no such key.
			if _, err := s.FindAPIKeyByID(ctx, id); err != nil {
				return err
			}
			return nil
		} else if err != nil {
			return err
		}
		a.record(k.TenantID, hookd.ActionKeyRevoke, hookd.ResourceKey, id, a.snapshot(before), a.snapshot(k))
		return nil
	})
}

// TouchAPIKey records when a key was last used.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, id, micro(at))
	return s.fail(err)
}
