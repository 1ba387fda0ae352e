package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/hookd/hookd"
)

// CreateAPIKey stores k; ECONFLICT if its hash exists.
func (s *Store) CreateAPIKey(ctx context.Context, k *hookd.APIKey) error {
	if k.ID == "" {
		k.ID = hookd.NewID(hookd.PrefixKey)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now().UTC()
	}
	var tenant any
	if k.TenantID != "" {
		tenant = k.TenantID
	}
	return s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`INSERT INTO api_keys (id, tenant_id, role, name, hash, created_at, last_used_at, expires_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, tenant, string(k.Role), k.Name, k.Hash, ns(k.CreatedAt), nsPtr(k.LastUsedAt), nsPtr(k.ExpiresAt), nsPtr(k.RevokedAt))
		if err != nil {
			return err
		}
		return s.audit(ctx, w, k.TenantID, hookd.ActionKeyCreate, hookd.ResourceKey, k.ID, nil, hookd.Snapshot(ctx, k))
	})
}

const keyColumns = `id, tenant_id, role, name, hash, created_at, last_used_at, expires_at, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (*hookd.APIKey, error) {
	var k hookd.APIKey
	var tenant sql.NullString
	var role string
	var created int64
	var used, expires, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &tenant, &role, &k.Name, &k.Hash, &created, &used, &expires, &revoked); err != nil {
		return nil, err
	}
	k.TenantID, k.Role, k.CreatedAt = tenant.String, hookd.Role(role), fromNS(created)
	k.LastUsedAt, k.ExpiresAt, k.RevokedAt = fromNullNS(used), fromNullNS(expires), fromNullNS(revoked)
	return &k, nil
}

// FindAPIKeyByHash returns the key with hash, revoked and expired included.
func (s *Store) FindAPIKeyByHash(ctx context.Context, hash string) (*hookd.APIKey, error) {
	k, err := scanKey(s.read.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = ?`, hash))
	return k, notFound(err, "API key")
}

// FindAPIKeyByID returns the key with id; ENOTFOUND if none.
func (s *Store) FindAPIKeyByID(ctx context.Context, id string) (*hookd.APIKey, error) {
	k, err := scanKey(s.read.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	return k, notFound(err, "API key")
}

// FindAPIKeys lists keys, newest first.
func (s *Store) FindAPIKeys(ctx context.Context, f hookd.APIKeyFilter) ([]*hookd.APIKey, string, error) {
	cond, args, limit, err := page(f.Page, "id")
	if err != nil {
		return nil, "", err
	}
	if f.TenantID != "" {
		cond += ` AND tenant_id = ?`
		args = append(args, f.TenantID)
	}
	if f.Role != "" {
		cond += ` AND role = ?`
		args = append(args, string(f.Role))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE `+cond+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanKey)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, f.Size(), func(k *hookd.APIKey) string { return k.ID })
	return list, next, nil
}

// RevokeAPIKey marks a key revoked at at (a revoked key keeps its first
// time); ENOTFOUND if there is no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.exec(ctx, func(w *writer) error {
		k, err := scanKey(w.QueryRow(`SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "API key")
		}
		if k.RevokedAt != nil {
			return nil
		}
		before := hookd.Snapshot(ctx, k)
		if _, err := w.Exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`, ns(at), id); err != nil {
			return err
		}
		t := at.UTC()
		k.RevokedAt = &t
		return s.audit(ctx, w, k.TenantID, hookd.ActionKeyRevoke, hookd.ResourceKey, id, before, hookd.Snapshot(ctx, k))
	})
}

// TouchAPIKey records when a key was last used.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`, ns(at), id)
		return err
	})
}
