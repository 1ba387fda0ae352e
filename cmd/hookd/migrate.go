package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
)

// runMigrate applies the database migrations and exits. SQLite migrates
// whenever it opens; for PostgreSQL this is how operators who run serve
// with --no-migrate upgrade the schema, once, before the new nodes start.
func runMigrate(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	db := fs.String("db", envOr(env, "HOOKD_DB", "hookd.db"), "database: a SQLite file path, or a postgres:// URL (HOOKD_DB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"migrate takes no arguments"}
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	// Migrations never read secrets, so no cipher is needed.
	store, err := openStore(ctx, *db, nil, true, log)
	if err != nil {
		return err
	}
	if err := store.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: schema is up to date\n", redactDSN(*db))
	return nil
}
