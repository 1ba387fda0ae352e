package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/hookd/hookd"
)

// CreateEventType stores t; ECONFLICT if the name exists in the tenant.
func (s *Store) CreateEventType(ctx context.Context, t *hookd.EventType) error {
	now := s.now().UTC()
	t.CreatedAt, t.UpdatedAt = now, now
	err := s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`INSERT INTO event_types (tenant_id, name, description, schema, example, deprecated, archived, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.TenantID, t.Name, t.Description, nullJSON(t.Schema), nullJSON(t.Example), t.Deprecated, t.Archived, ns(now), ns(now))
		if err != nil {
			return err
		}
		return s.audit(ctx, w, t.TenantID, hookd.ActionEventTypeCreate, hookd.ResourceEventType, t.Name, nil, hookd.Snapshot(ctx, t))
	})
	if hookd.ErrorCode(err) == hookd.ECONFLICT {
		return hookd.Errorf(hookd.ECONFLICT, "Event type %q already exists.", t.Name)
	}
	return err
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

const eventTypeColumns = `tenant_id, name, description, schema, example, deprecated, archived, created_at, updated_at`

func scanEventType(row interface{ Scan(...any) error }) (*hookd.EventType, error) {
	var t hookd.EventType
	var schema, example sql.NullString
	var created, updated int64
	if err := row.Scan(&t.TenantID, &t.Name, &t.Description, &schema, &example, &t.Deprecated, &t.Archived, &created, &updated); err != nil {
		return nil, err
	}
	if schema.Valid {
		t.Schema = json.RawMessage(schema.String)
	}
	if example.Valid {
		t.Example = json.RawMessage(example.String)
	}
	t.CreatedAt, t.UpdatedAt = fromNS(created), fromNS(updated)
	return &t, nil
}

// FindEventType returns one event type; ENOTFOUND if none.
func (s *Store) FindEventType(ctx context.Context, tenantID, name string) (*hookd.EventType, error) {
	t, err := scanEventType(s.read.QueryRowContext(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE tenant_id = ? AND name = ?`, tenantID, name))
	return t, notFound(err, "Event type")
}

// FindEventTypes lists a tenant's catalog by name, descending.
func (s *Store) FindEventTypes(ctx context.Context, tenantID string, p hookd.Page) ([]*hookd.EventType, string, error) {
	cond, args, limit, err := page(p, "name")
	if err != nil {
		return nil, "", err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE tenant_id = ? AND `+cond+` ORDER BY name DESC LIMIT ?`,
		append(append([]any{tenantID}, args...), limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanEventType)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, p.Size(), func(t *hookd.EventType) string { return t.Name })
	return list, next, nil
}

// UpdateEventType applies upd and returns the stored type.
func (s *Store) UpdateEventType(ctx context.Context, tenantID, name string, upd hookd.EventTypeUpdate) (*hookd.EventType, error) {
	var out *hookd.EventType
	err := s.exec(ctx, func(w *writer) error {
		t, err := scanEventType(w.QueryRow(`SELECT `+eventTypeColumns+` FROM event_types WHERE tenant_id = ? AND name = ?`, tenantID, name))
		if err != nil {
			return notFound(err, "Event type")
		}
		before := hookd.Snapshot(ctx, t)
		if upd.Description != nil {
			t.Description = *upd.Description
		}
		if upd.Schema != nil {
			t.Schema = *upd.Schema
		}
		if upd.Example != nil {
			t.Example = *upd.Example
		}
		if upd.Deprecated != nil {
			t.Deprecated = *upd.Deprecated
		}
		if upd.Archived != nil {
			t.Archived = *upd.Archived
		}
		t.UpdatedAt = s.now().UTC()
		_, err = w.Exec(`UPDATE event_types SET description = ?, schema = ?, example = ?, deprecated = ?, archived = ?, updated_at = ?
			WHERE tenant_id = ? AND name = ?`,
			t.Description, nullJSON(t.Schema), nullJSON(t.Example), t.Deprecated, t.Archived, ns(t.UpdatedAt), tenantID, name)
		if err != nil {
			return err
		}
		out = t
		return s.audit(ctx, w, tenantID, hookd.ActionEventTypeUpdate, hookd.ResourceEventType, name, before, hookd.Snapshot(ctx, t))
	})
	return out, err
}

// DeleteEventType removes one event type; ENOTFOUND if none.
func (s *Store) DeleteEventType(ctx context.Context, tenantID, name string) error {
	return s.exec(ctx, func(w *writer) error {
		t, err := scanEventType(w.QueryRow(`SELECT `+eventTypeColumns+` FROM event_types WHERE tenant_id = ? AND name = ?`, tenantID, name))
		if err != nil {
			return notFound(err, "Event type")
		}
		if _, err := w.Exec(`DELETE FROM event_types WHERE tenant_id = ? AND name = ?`, tenantID, name); err != nil {
			return err
		}
		return s.audit(ctx, w, tenantID, hookd.ActionEventTypeDelete, hookd.ResourceEventType, name, hookd.Snapshot(ctx, t), nil)
	})
}
