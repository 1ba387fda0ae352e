package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hookd/hookd"
)

// SetManaged replaces the set of resources owner owns with list, in one
// transaction. EINVALID if list fails hookd.ValidateManaged; ECONFLICT,
// naming the other owner, if another owner owns one of them (nothing
// changes then). Rows of resources that are deleted go with them (see
// migration 0010).
func (s *Store) SetManaged(ctx context.Context, owner string, list []hookd.ManagedResource) error {
	if err := hookd.ValidateManaged(owner, list); err != nil {
		return err
	}
	return s.exec(ctx, func(w *writer) error {
		if _, err := w.Exec(`DELETE FROM managed_resources WHERE owner = ?`, owner); err != nil {
			return err
		}
		for _, r := range list {
			// ValidateManaged ruled out duplicates and owner's rows are
			// gone, so a row already there is another owner's.
			res, err := w.Exec(`INSERT INTO managed_resources (kind, tenant_id, key, name, owner) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (kind, tenant_id, key) DO NOTHING`, r.Kind, r.TenantID, r.Key, r.Name, owner)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				other, err := managedBy(w, r.Kind, r.TenantID, r.Key)
				if err != nil {
					return err
				}
				return hookd.ManagedConflict(r, other)
			}
		}
		return nil
	})
}

// FindManaged returns the resources owner owns ("" for every owner), by
// owner, kind, tenant and key.
func (s *Store) FindManaged(ctx context.Context, owner string) ([]hookd.ManagedResource, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT kind, tenant_id, key, name, owner FROM managed_resources
		WHERE ? = '' OR owner = ? ORDER BY owner, kind, tenant_id, key`, owner, owner)
	if err != nil {
		return nil, translate(err)
	}
	list, err := collect(rows, func(row interface{ Scan(...any) error }) (hookd.ManagedResource, error) {
		var r hookd.ManagedResource
		err := row.Scan(&r.Kind, &r.TenantID, &r.Key, &r.Name, &r.Owner)
		return r, err
	})
	return list, err
}

// ManagedBy returns the owner of a resource, "" if none.
func (s *Store) ManagedBy(ctx context.Context, kind, tenantID, key string) (string, error) {
	return managedBy(s.reader(ctx), kind, tenantID, key)
}

func managedBy(q queryer, kind, tenantID, key string) (string, error) {
	var owner string
	err := q.QueryRow(`SELECT owner FROM managed_resources WHERE kind = ? AND tenant_id = ? AND key = ?`, kind, tenantID, key).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return owner, translate(err)
}
