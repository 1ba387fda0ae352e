package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// PendingMigrations returns the names of the embedded migrations the
// database has not applied, in order; all of them for an empty schema. A
// node started with migrations off checks this before it serves, so it
// never runs against a schema older than its code.
func (s *Store) PendingMigrations(ctx context.Context) ([]string, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("check migrations: %w", s.fail(err))
	}
	if !exists {
		return migrationNames(nil), nil
	}
	pending, err := pendingMigrations(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("check migrations: %w", s.fail(err))
	}
	return pending, nil
}

// pendingMigrations lists, in order, the embedded migrations that
// schema_migrations does not record.
func pendingMigrations(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	applied := make(map[string]bool, len(names))
	for _, n := range names {
		applied[n] = true
	}
	return migrationNames(applied), nil
}

// migrationNames returns the embedded migrations' names in order, leaving
// out those in skip.
func migrationNames(skip map[string]bool) []string {
	files, _ := fs.Glob(migrations, "migrations/*.sql") // the pattern is valid
	sort.Strings(files)
	var out []string
	for _, f := range files {
		if name := strings.TrimPrefix(f, "migrations/"); !skip[name] {
			out = append(out, name)
		}
	}
	return out
}
