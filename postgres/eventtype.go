package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// CreateEventType stores t; ECONFLICT if the name exists in the tenant,
// ENOTFOUND if the tenant does not exist.
func (s *Store) CreateEventType(ctx context.Context, t *hookd.EventType) error {
	now := s.clock()
	err := s.change(ctx, func(q querier, a *auditLog) error {
		_, err := q.Exec(ctx, `INSERT INTO event_types (tenant_id, name, description, schema, example, deprecated, archived, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			t.TenantID, t.Name, t.Description, nullJSON(t.Schema), nullJSON(t.Example), t.Deprecated, t.Archived, now)
		if err != nil {
			return err
		}
		c := *t
		c.CreatedAt, c.UpdatedAt = now, now
		a.record(t.TenantID, hookd.ActionEventTypeCreate, hookd.ResourceEventType, t.Name, nil, a.snapshot(&c))
		return nil
	})
	if hookd.ErrorCode(err) == hookd.ECONFLICT {
		return hookd.Errorf(hookd.ECONFLICT, "Event type %q already exists.", t.Name)
	} else if err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt = now, now
	return nil
}

// nullJSON keeps raw JSON as written (text, not jsonb), NULL when empty.
func nullJSON(b json.RawMessage) *string {
	if len(b) == 0 {
		return nil
	}
	v := string(b)
	return &v
}

const eventTypeColumns = `tenant_id, name, description, schema, example, deprecated, archived, created_at, updated_at`

func scanEventType(row pgx.Row) (*hookd.EventType, error) {
	var t hookd.EventType
	var schema, example *string
	if err := row.Scan(&t.TenantID, &t.Name, &t.Description, &schema, &example, &t.Deprecated, &t.Archived, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	if schema != nil {
		t.Schema = json.RawMessage(*schema)
	}
	if example != nil {
		t.Example = json.RawMessage(*example)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

// FindEventType returns one event type; ENOTFOUND if none.
func (s *Store) FindEventType(ctx context.Context, tenantID, name string) (*hookd.EventType, error) {
	t, err := scanEventType(s.pool.QueryRow(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE tenant_id = $1 AND name = $2`, tenantID, name))
	return t, s.notFound(err, "Event type")
}

// FindEventTypes lists a tenant's catalog by name, descending.
func (s *Store) FindEventTypes(ctx context.Context, tenantID string, p hookd.Page) ([]*hookd.EventType, string, error) {
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventTypeColumns+` FROM event_types
		WHERE tenant_id = $1 AND ($2 = '' OR name < $2) ORDER BY name DESC LIMIT $3`, tenantID, after, p.Size()+1)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanEventType)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, p.Size(), func(t *hookd.EventType) string { return t.Name })
	return list, next, nil
}

// UpdateEventType applies upd and returns the stored type; ENOTFOUND if none.
func (s *Store) UpdateEventType(ctx context.Context, tenantID, name string, upd hookd.EventTypeUpdate) (*hookd.EventType, error) {
	var schema, example *string
	if upd.Schema != nil {
		schema = nullJSON(*upd.Schema)
	}
	if upd.Example != nil {
		example = nullJSON(*upd.Example)
	}
	var out *hookd.EventType
	err := s.change(ctx, func(q querier, a *auditLog) error {
		var before *hookd.EventType
		if a.on {
			var err error
			before, err = scanEventType(q.QueryRow(ctx, `SELECT `+eventTypeColumns+` FROM event_types
				WHERE tenant_id = $1 AND name = $2 FOR UPDATE`, tenantID, name))
			if err != nil {
				return s.notFound(err, "Event type")
			}
		}
		t, err := scanEventType(q.QueryRow(ctx, `UPDATE event_types SET
				description = coalesce($3, description),
				schema = CASE WHEN $4 THEN $5 ELSE schema END,
				example = CASE WHEN $6 THEN $7 ELSE example END,
				deprecated = coalesce($8, deprecated), archived = coalesce($9, archived), updated_at = $10
			WHERE tenant_id = $1 AND name = $2 RETURNING `+eventTypeColumns,
			tenantID, name, upd.Description, upd.Schema != nil, schema, upd.Example != nil, example,
			upd.Deprecated, upd.Archived, s.clock()))
		if err != nil {
			return s.notFound(err, "Event type")
		}
		out = t
		a.record(tenantID, hookd.ActionEventTypeUpdate, hookd.ResourceEventType, name, a.snapshot(before), a.snapshot(t))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteEventType removes one event type; ENOTFOUND if none.
func (s *Store) DeleteEventType(ctx context.Context, tenantID, name string) error {
	return s.change(ctx, func(q querier, a *auditLog) error {
		t, err := scanEventType(q.QueryRow(ctx, `DELETE FROM event_types WHERE tenant_id = $1 AND name = $2
			RETURNING `+eventTypeColumns, tenantID, name))
		if err != nil {
			return s.notFound(err, "Event type")
		}
		a.record(tenantID, hookd.ActionEventTypeDelete, hookd.ResourceEventType, name, a.snapshot(t), nil)
		return nil
	})
}
