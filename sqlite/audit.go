package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/hookd/hookd"
)

// audit records the audit entry of a change made with ctx, when ctx is
// audited, in the transaction of w.
func (s *Store) audit(ctx context.Context, w *writer, tenantID, action, typ, id string, before, after json.RawMessage) error {
	e := hookd.NewAuditEntry(ctx, tenantID, action, typ, id, before, after)
	if e == nil {
		return nil
	}
	e.At = s.now().UTC()
	_, err := w.Exec(`INSERT INTO audit_log (id, tenant_id, at, key_id, token_id, role, action, resource_type, resource_id, before, after)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.TenantID, ns(e.At), e.KeyID, e.TokenID, string(e.Role), e.Action, e.ResourceType, e.ResourceID,
		nullJSON(e.Before), nullJSON(e.After))
	return err
}

const auditColumns = `id, tenant_id, at, key_id, token_id, role, action, resource_type, resource_id, before, after`

func scanAudit(row interface{ Scan(...any) error }) (*hookd.AuditEntry, error) {
	var e hookd.AuditEntry
	var at int64
	var role string
	var before, after sql.NullString
	if err := row.Scan(&e.ID, &e.TenantID, &at, &e.KeyID, &e.TokenID, &role, &e.Action, &e.ResourceType, &e.ResourceID,
		&before, &after); err != nil {
		return nil, err
	}
	e.At, e.Role = fromNS(at), hookd.Role(role)
	if before.Valid {
		e.Before = json.RawMessage(before.String)
	}
	if after.Valid {
		e.After = json.RawMessage(after.String)
	}
	return &e, nil
}

// FindAuditEntries lists audit entries matching f, newest first.
func (s *Store) FindAuditEntries(ctx context.Context, f hookd.AuditFilter) ([]*hookd.AuditEntry, string, error) {
	if err := hookd.ValidateAuditAction(f.Action); err != nil {
		return nil, "", err
	}
	cond, args, limit, err := page(f.Page, "id")
	if err != nil {
		return nil, "", err
	}
	if f.TenantID != "" {
		cond += ` AND tenant_id = ?`
		args = append(args, f.TenantID)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
		cond += ` AND substr(action, 1, ?) = ?`
		args = append(args, len(prefix), prefix)
	} else if f.Action != "" {
		cond += ` AND action = ?`
		args = append(args, f.Action)
	}
	if f.Since != nil {
		cond += ` AND at >= ?`
		args = append(args, ns(*f.Since))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE `+cond+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanAudit)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, f.Size(), func(e *hookd.AuditEntry) string { return e.ID })
	return list, next, nil
}
