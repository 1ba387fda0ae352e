package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// SetManaged replaces the set of resources owner owns with list, in one
// transaction. EINVALID if list fails hookd.ValidateManaged; ECONFLICT,
// naming the other owner, if another owner owns one of them (nothing
// changes then). Calls for one owner take turns (a transaction-scoped
// advisory lock), so concurrent calls leave one of the lists, never a
// mixture; rows are inserted in key order, so calls of different owners
// do not deadlock. Rows of resources that are deleted go with them (see
// migration 0010).
func (s *Store) SetManaged(ctx context.Context, owner string, list []hookd.ManagedResource) error {
	if err := hookd.ValidateManaged(owner, list); err != nil {
		return err
	}
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b hookd.ManagedResource) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.TenantID, b.TenantID), strings.Compare(a.Key, b.Key))
	})
	kinds, tenants, keys, names := make([]string, len(list)), make([]string, len(list)), make([]string, len(list)), make([]string, len(list))
	for i, r := range list {
		kinds[i], tenants[i], keys[i], names[i] = r.Kind, r.TenantID, r.Key, r.Name
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('hookd.managed:' || $1, 0))`, owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM managed_resources WHERE owner = $1`, owner); err != nil {
			return err
		}
		// owner's rows are gone and ValidateManaged ruled out duplicates,
		// so a row that is not inserted is another owner's.
		rows, err := tx.Query(ctx, `INSERT INTO managed_resources (kind, tenant_id, key, name, owner)
			SELECT kind, tenant_id, key, name, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u (kind, tenant_id, key, name)
			ON CONFLICT (kind, tenant_id, key) DO NOTHING
			RETURNING kind, tenant_id, key`, kinds, tenants, keys, names, owner)
		if err != nil {
			return err
		}
		inserted := map[[3]string]bool{}
		var k [3]string
		if _, err := pgx.ForEachRow(rows, []any{&k[0], &k[1], &k[2]}, func() error { inserted[k] = true; return nil }); err != nil {
			return err
		}
		if len(inserted) == len(list) {
			return nil
		}
		for _, r := range list {
			if inserted[[3]string{r.Kind, r.TenantID, r.Key}] {
				continue
			}
			other, err := managedBy(ctx, tx, r.Kind, r.TenantID, r.Key)
			if err != nil {
				return err
			}
			return hookd.ManagedConflict(r, other)
		}
		return nil
	})
}

// FindManaged returns the resources owner owns ("" for every owner), by
// owner, kind, tenant and key.
func (s *Store) FindManaged(ctx context.Context, owner string) ([]hookd.ManagedResource, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, tenant_id, key, name, owner FROM managed_resources
		WHERE $1 = '' OR owner = $1 ORDER BY owner, kind, tenant_id, key`, owner)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := collect(rows, func(row pgx.Row) (hookd.ManagedResource, error) {
		var r hookd.ManagedResource
		err := row.Scan(&r.Kind, &r.TenantID, &r.Key, &r.Name, &r.Owner)
		return r, err
	})
	return list, s.fail(err)
}

// ManagedBy returns the owner of a resource, "" if none.
func (s *Store) ManagedBy(ctx context.Context, kind, tenantID, key string) (string, error) {
	owner, err := managedBy(ctx, s.pool, kind, tenantID, key)
	return owner, s.fail(err)
}

func managedBy(ctx context.Context, q querier, kind, tenantID, key string) (string, error) {
	var owner string
	err := q.QueryRow(ctx, `SELECT owner FROM managed_resources WHERE kind = $1 AND tenant_id = $2 AND key = $3`, kind, tenantID, key).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return owner, err
}
