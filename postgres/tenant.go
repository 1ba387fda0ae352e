package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// CreateTenant stores t, setting its times; ECONFLICT if the id exists.
func (s *Store) CreateTenant(ctx context.Context, t *hookd.Tenant) error {
	now := s.clock()
	err := s.change(ctx, func(q querier, a *auditLog) error {
		_, err := q.Exec(ctx, `INSERT INTO tenants (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
			t.ID, t.Name, now)
		if err != nil {
			return err
		}
		c := *t
		c.CreatedAt, c.UpdatedAt = now, now
		a.record(t.ID, hookd.ActionTenantCreate, hookd.ResourceTenant, t.ID, nil, a.snapshot(&c))
		return nil
	})
	if hookd.ErrorCode(err) == hookd.ECONFLICT {
		return hookd.Errorf(hookd.ECONFLICT, "Tenant %q already exists.", t.ID)
	} else if err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt = now, now
	return nil
}

const tenantColumns = `id, name, created_at, updated_at`

func scanTenant(row pgx.Row) (*hookd.Tenant, error) {
	var t hookd.Tenant
	if err := row.Scan(&t.ID, &t.Name, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

// FindTenant returns the tenant with id; ENOTFOUND if none.
func (s *Store) FindTenant(ctx context.Context, id string) (*hookd.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	return t, s.notFound(err, "Tenant")
}

// FindTenants lists tenants by id, descending.
func (s *Store) FindTenants(ctx context.Context, p hookd.Page) ([]*hookd.Tenant, string, error) {
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2`, after, p.Size()+1)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanTenant)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, p.Size(), func(t *hookd.Tenant) string { return t.ID })
	return list, next, nil
}

// UpdateTenant applies upd; ENOTFOUND if the tenant does not exist.
func (s *Store) UpdateTenant(ctx context.Context, id string, upd hookd.TenantUpdate) (*hookd.Tenant, error) {
	var out *hookd.Tenant
	err := s.change(ctx, func(q querier, a *auditLog) error {
		var before *hookd.Tenant
		if a.on {
			var err error
			if before, err = scanTenant(q.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1 FOR UPDATE`, id)); err != nil {
				return s.notFound(err, "Tenant")
			}
		}
		t, err := scanTenant(q.QueryRow(ctx, `UPDATE tenants SET name = coalesce($2, name), updated_at = $3
			WHERE id = $1 RETURNING `+tenantColumns, id, upd.Name, s.clock()))
		if err != nil {
			return s.notFound(err, "Tenant")
		}
		out = t
		a.record(id, hookd.ActionTenantUpdate, hookd.ResourceTenant, id, a.snapshot(before), a.snapshot(t))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTenant removes the tenant and everything it owns: keys (and their
// tokens), event types, endpoints, sources and rules by cascade; events,
// deliveries (late ones included), attempts, stats slots, alerts, triggers,
// runs and audit entries explicitly. It waits for publishes, recovers,
// replays and accepted requests (CreateTrigger) to the tenant that are in
// progress; triggers are deleted before runs, so the runs of a trigger
// being processed meanwhile are deleted too. Its own audit entry is written
// outside any tenant, so the deletion stays on record.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	return s.changeTx(ctx, func(tx pgx.Tx, a *auditLog) error {
		t, err := scanTenant(tx.QueryRow(ctx, `DELETE FROM tenants WHERE id = $1 RETURNING `+tenantColumns, id))
		if err != nil {
			return s.notFound(err, "Tenant")
		}
		for _, q := range []string{
			`DELETE FROM attempts a USING deliveries d WHERE d.tenant_id = $1 AND a.delivery_id = d.id`,
			`DELETE FROM deliveries WHERE tenant_id = $1`,
			`DELETE FROM endpoint_stats WHERE tenant_id = $1`,
			`DELETE FROM alerts WHERE tenant_id = $1`,
			`DELETE FROM late_deliveries WHERE tenant_id = $1`,
			`DELETE FROM events WHERE tenant_id = $1`,
			`DELETE FROM triggers WHERE tenant_id = $1`,
			`DELETE FROM runs WHERE tenant_id = $1`,
			`DELETE FROM audit_log WHERE tenant_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		a.record("", hookd.ActionTenantDelete, hookd.ResourceTenant, id, a.snapshot(t), nil)
		return nil
	})
}
