package sqlite

import (
	"context"
	"database/sql"

	"github.com/hookd/hookd"
)

// CreateTenant stores t; ECONFLICT if the id exists.
func (s *Store) CreateTenant(ctx context.Context, t *hookd.Tenant) error {
	now := s.now().UTC()
	t.CreatedAt, t.UpdatedAt = now, now
	err := s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`INSERT INTO tenants (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`,
			t.ID, t.Name, ns(now), ns(now))
		if err != nil {
			return err
		}
		return s.audit(ctx, w, t.ID, hookd.ActionTenantCreate, hookd.ResourceTenant, t.ID, nil, hookd.Snapshot(ctx, t))
	})
	if hookd.ErrorCode(err) == hookd.ECONFLICT {
		return hookd.Errorf(hookd.ECONFLICT, "Tenant %q already exists.", t.ID)
	}
	return err
}

const tenantColumns = `id, name, created_at, updated_at`

func scanTenant(row interface{ Scan(...any) error }) (*hookd.Tenant, error) {
	var t hookd.Tenant
	var created, updated int64
	if err := row.Scan(&t.ID, &t.Name, &created, &updated); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = fromNS(created), fromNS(updated)
	return &t, nil
}

// FindTenant returns the tenant with id; ENOTFOUND if none.
func (s *Store) FindTenant(ctx context.Context, id string) (*hookd.Tenant, error) {
	t, err := scanTenant(s.read.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
	return t, notFound(err, "Tenant")
}

// FindTenants lists tenants, newest id first.
func (s *Store) FindTenants(ctx context.Context, p hookd.Page) ([]*hookd.Tenant, string, error) {
	cond, args, limit, err := page(p, "id")
	if err != nil {
		return nil, "", err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE `+cond+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanTenant)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, p.Size(), func(t *hookd.Tenant) string { return t.ID })
	return list, next, nil
}

// UpdateTenant changes a tenant's name.
func (s *Store) UpdateTenant(ctx context.Context, id string, upd hookd.TenantUpdate) (*hookd.Tenant, error) {
	var out *hookd.Tenant
	err := s.exec(ctx, func(w *writer) error {
		t, err := scanTenant(w.QueryRow(`SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "Tenant")
		}
		before := hookd.Snapshot(ctx, t)
		if upd.Name != nil {
			t.Name = *upd.Name
		}
		t.UpdatedAt = s.now().UTC()
		if _, err := w.Exec(`UPDATE tenants SET name = ?, updated_at = ? WHERE id = ?`, t.Name, ns(t.UpdatedAt), id); err != nil {
			return err
		}
		out = t
		return s.audit(ctx, w, id, hookd.ActionTenantUpdate, hookd.ResourceTenant, id, before, hookd.Snapshot(ctx, t))
	})
	return out, err
}

// DeleteTenant removes the tenant and everything it owns: keys (and their
// tokens), event types, endpoints, events, sources, rules and triggers by
// cascade; deliveries, attempts, runs and audit entries explicitly. Its own
// audit entry is written outside any tenant, so the deletion stays on
// record.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	return s.execAlone(ctx, func(w *writer) error {
		t, err := scanTenant(w.QueryRow(`SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "Tenant")
		}
		if _, err := w.Exec(`DELETE FROM tenants WHERE id = ?`, id); err != nil {
			return err
		}
		// Tables without foreign keys (kept lean for the hot path).
		for _, q := range []string{
			`DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE tenant_id = ?)`,
			`DELETE FROM deliveries WHERE tenant_id = ?`,
			`DELETE FROM endpoint_stats WHERE tenant_id = ?`,
			`DELETE FROM alerts WHERE tenant_id = ?`,
			`DELETE FROM late_deliveries WHERE tenant_id = ?`,
			`DELETE FROM runs WHERE tenant_id = ?`,
			`DELETE FROM audit_log WHERE tenant_id = ?`,
		} {
			if _, err := w.Exec(q, id); err != nil {
				return err
			}
		}
		return s.audit(ctx, w, "", hookd.ActionTenantDelete, hookd.ResourceTenant, id, hookd.Snapshot(ctx, t), nil)
	})
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}
