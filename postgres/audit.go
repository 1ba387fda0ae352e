package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookd/hookd"
)

// querier is what a change runs its statements on: the pool, or the
// transaction of an audited change.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// change runs fn, one change. Without an audited ctx it runs on the pool
// as before (single statements need no transaction); with one it runs in
// a transaction that also inserts the audit entries fn records, so the
// change and its record commit together.
func (s *Store) change(ctx context.Context, fn func(q querier, a *auditLog) error) error {
	if s.closed.Load() {
		return errClosed
	}
	if !hookd.Audited(ctx) {
		return s.fail(fn(s.pool, &auditLog{}))
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		a := &auditLog{ctx: ctx, on: true}
		if err := fn(tx, a); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a.entries)
	})
}

// changeTx runs fn, a change of several statements, in a transaction
// that also inserts the audit entries fn records when ctx is audited.
func (s *Store) changeTx(ctx context.Context, fn func(tx pgx.Tx, a *auditLog) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		a := &auditLog{ctx: ctx, on: hookd.Audited(ctx)}
		if err := fn(tx, a); err != nil {
			return err
		}
		return s.insertAudit(ctx, tx, a.entries)
	})
}

// auditLog collects the audit entries of one change.
type auditLog struct {
	ctx     context.Context
	on      bool // the change is audited: snapshots are wanted
	entries []*hookd.AuditEntry
}

// record adds the entry of a change; a no-op when the change is not audited.
func (a *auditLog) record(tenantID, action, typ, id string, before, after json.RawMessage) {
	if !a.on {
		return
	}
	if e := hookd.NewAuditEntry(a.ctx, tenantID, action, typ, id, before, after); e != nil {
		a.entries = append(a.entries, e)
	}
}

// snapshot returns v's audit snapshot, nil when the change is not audited.
func (a *auditLog) snapshot(v any) json.RawMessage {
	if !a.on {
		return nil
	}
	return hookd.Snapshot(a.ctx, v)
}

func (s *Store) insertAudit(ctx context.Context, q querier, entries []*hookd.AuditEntry) error {
	for _, e := range entries {
		e.At = s.clock()
		_, err := q.Exec(ctx, `INSERT INTO audit_log (id, tenant_id, at, key_id, token_id, role, action, resource_type, resource_id, before, after)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			e.ID, cleanText(e.TenantID), e.At, cleanText(e.KeyID), cleanText(e.TokenID), string(e.Role), e.Action, e.ResourceType,
			cleanText(e.ResourceID), jsonOrNil(e.Before), jsonOrNil(e.After))
		if err != nil {
			return err
		}
	}
	return nil
}

// jsonOrNil passes raw JSON to a jsonb column, NULL when empty.
func jsonOrNil(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

const auditColumns = `id, tenant_id, at, key_id, token_id, role, action, resource_type, resource_id, before, after`

func scanAudit(row pgx.Row) (*hookd.AuditEntry, error) {
	var e hookd.AuditEntry
	var role string
	var before, after []byte
	if err := row.Scan(&e.ID, &e.TenantID, &e.At, &e.KeyID, &e.TokenID, &role, &e.Action, &e.ResourceType, &e.ResourceID,
		&before, &after); err != nil {
		return nil, err
	}
	e.At, e.Role = e.At.UTC(), hookd.Role(role)
	if before != nil {
		e.Before = json.RawMessage(before)
	}
	if after != nil {
		e.After = json.RawMessage(after)
	}
	return &e, nil
}

// FindAuditEntries lists audit entries matching f, newest first.
func (s *Store) FindAuditEntries(ctx context.Context, f hookd.AuditFilter) ([]*hookd.AuditEntry, string, error) {
	if err := hookd.ValidateAuditAction(f.Action); err != nil {
		return nil, "", err
	}
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var exact, prefix string
	if p, ok := cutStar(f.Action); ok {
		prefix = p
	} else {
		exact = f.Action
	}
	var since any
	if f.Since != nil {
		since = micro(*f.Since)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_log
		WHERE ($1 = '' OR id < $1) AND ($2 = '' OR tenant_id = $2) AND ($3 = '' OR action = $3)
		  AND ($4 = '' OR left(action, length($4)) = $4) AND ($5::timestamptz IS NULL OR at >= $5)
		ORDER BY id DESC LIMIT $6`, after, f.TenantID, exact, prefix, since, f.Size()+1)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanAudit)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, f.Size(), func(e *hookd.AuditEntry) string { return e.ID })
	return list, next, nil
}

// cutStar returns the prefix of a "type.*" action filter.
func cutStar(action string) (string, bool) {
	if n := len(action); n > 0 && action[n-1] == '*' {
		return action[:n-1], true
	}
	return "", false
}
