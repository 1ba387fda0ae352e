package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/postgres"
	"github.com/hookd/hookd/sqlite"
	"github.com/hookd/hookd/vault"
)

// tenantGiven reports whether the tenant was chosen explicitly, by --tenant
// or HOOKD_TENANT, rather than left at its default.
func tenantGiven(fs *flag.FlagSet, env Env) bool {
	given := env.Getenv("HOOKD_TENANT") != ""
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "tenant" })
	return given
}

// allPages calls page with successive cursors until the last page.
func allPages[T any](p hookd.Page, page func(hookd.Page) (*client.List[T], error)) ([]T, error) {
	var all []T
	for {
		l, err := page(p)
		if err != nil {
			return nil, err
		}
		all = append(all, l.Data...)
		if l.NextCursor == "" {
			return all, nil
		}
		p.Cursor = l.NextCursor
	}
}

func at(t time.Time) string { return ago(&t) }

func runTenants(ctx context.Context, args []string, env Env) error {
	const usage = "usage: hookd tenants create ID [--name NAME] | list | get ID | update ID --name NAME | delete ID --confirm ID"
	if len(args) == 0 {
		return usageError{usage}
	}
	var cf clientFlags
	fs := newFlagSet("tenants "+args[0], env)
	cf.register(fs, env)
	name := fs.String("name", "", "display name (create, update)")
	confirm := fs.String("confirm", "", "delete: the tenant id again, to confirm that all its data goes")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	want := 1
	if args[0] == "list" {
		want = 0
	}
	if len(pos) != want {
		return usageError{usage}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var t *hookd.Tenant
	switch args[0] {
	case "create":
		if t, err = c.CreateTenant(ctx, pos[0], *name); err != nil {
			return err
		}
		if !cf.json {
			fmt.Fprintf(env.Stdout, "Created tenant %s\n", t.ID)
			return nil
		}
	case "list":
		all, err := allPages(hookd.Page{Limit: hookd.MaxPageSize}, func(p hookd.Page) (*client.List[*hookd.Tenant], error) {
			return c.ListTenants(ctx, p)
		})
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, all)
		}
		rows := make([][]string, len(all))
		for i, t := range all {
			rows[i] = []string{t.ID, orDash(t.Name), at(t.CreatedAt)}
		}
		table(env.Stdout, "ID\tNAME\tCREATED", rows)
		return nil
	case "get":
		if t, err = c.GetTenant(ctx, pos[0]); err != nil {
			return err
		}
	case "update":
		if !flagGiven(fs, "name") {
			return usageError{"tenants update needs --name"}
		}
		if t, err = c.UpdateTenant(ctx, pos[0], hookd.TenantUpdate{Name: name}); err != nil {
			return err
		}
	case "delete":
		if *confirm != pos[0] {
			return usageError{fmt.Sprintf("deleting tenant %s removes all its data and cannot be undone: repeat with --confirm %s", pos[0], pos[0])}
		}
		if err := c.DeleteTenant(ctx, pos[0], *confirm); err != nil {
			return err
		}
		if !cf.json {
			fmt.Fprintf(env.Stdout, "Deleted tenant %s and all its data\n", pos[0])
		}
		return nil
	default:
		return usageError{fmt.Sprintf("unknown tenants command %q: use create, list, get, update or delete", args[0])}
	}
	if cf.json {
		return printJSON(env.Stdout, t)
	}
	table(env.Stdout, "FIELD\tVALUE", [][]string{{"id", t.ID}, {"name", orDash(t.Name)}, {"created", at(t.CreatedAt)}, {"updated", at(t.UpdatedAt)}})
	return nil
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func runKeys(ctx context.Context, args []string, env Env) error {
	const usage = "usage: hookd keys create --role admin|viewer --tenant T | create --role superadmin | list [--tenant T] | revoke ID [--tenant T]\n" +
		"(with --tenant or HOOKD_TENANT: that tenant's keys; without: the superadmin keys)"
	if len(args) == 0 {
		return usageError{usage}
	}
	var cf clientFlags
	fs := newFlagSet("keys "+args[0], env)
	cf.register(fs, env)
	role := fs.String("role", "", "create: admin or viewer (a tenant's keys) or superadmin")
	name := fs.String("name", "", "create: a name to recognise the key by")
	ttl := fs.Duration("ttl", 0, "create: the key expires after this long, e.g. 720h (default: never)")
	expires := fs.String("expires", "", "create: the key expires at this RFC 3339 time")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	tenant := ""
	if tenantGiven(fs, env) {
		tenant = cf.tenant
	}
	switch args[0] {
	case "create":
		if len(pos) != 0 {
			return usageError{usage}
		}
		req := client.KeyRequest{Name: *name, Role: hookd.Role(*role), TTL: *ttl}
		switch {
		case req.Role == "":
			return usageError{"keys create needs --role admin, viewer or superadmin"}
		case req.Role == hookd.RoleSuperadmin && tenant != "":
			return usageError{"a superadmin key belongs to no tenant: leave out --tenant (and HOOKD_TENANT)"}
		case req.Role != hookd.RoleSuperadmin && tenant == "":
			return usageError{fmt.Sprintf("a %s key belongs to a tenant: pass --tenant", req.Role)}
		case *expires != "" && *ttl != 0:
			return usageError{"give --ttl or --expires, not both"}
		case *expires != "":
			t, err := time.Parse(time.RFC3339, *expires)
			if err != nil {
				return usageError{"--expires must be an RFC 3339 time like 2030-01-02T15:04:05Z"}
			}
			req.ExpiresAt = &t
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		k, secret, err := c.CreateKey(ctx, tenant, req)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, struct {
				*hookd.APIKey
				Key string `json:"key"`
			}{k, secret})
		}
		where := "superadmin key"
		if k.TenantID != "" {
			where = fmt.Sprintf("%s key of tenant %s", k.Role, k.TenantID)
		}
		fmt.Fprintf(env.Stdout, "Created %s %s", where, k.ID)
		if k.ExpiresAt != nil {
			fmt.Fprintf(env.Stdout, ", expires %s", ago(k.ExpiresAt))
		}
		fmt.Fprintf(env.Stdout, "\nAPI key (shown only this once):\n\n    %s\n\n", secret)
		return nil
	case "list":
		if len(pos) != 0 {
			return usageError{usage}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		all, err := allPages(hookd.Page{Limit: hookd.MaxPageSize}, func(p hookd.Page) (*client.List[*hookd.APIKey], error) {
			return c.ListKeys(ctx, tenant, p)
		})
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, all)
		}
		rows := make([][]string, len(all))
		for i, k := range all {
			state := "active"
			switch now := time.Now(); {
			case k.RevokedAt != nil:
				state = "revoked " + ago(k.RevokedAt)
			case !k.Usable(now):
				state = "expired"
			}
			rows[i] = []string{k.ID, orDash(k.Name), string(k.Role), state, ago(k.LastUsedAt), ago(k.ExpiresAt), at(k.CreatedAt)}
		}
		table(env.Stdout, "ID\tNAME\tROLE\tSTATE\tLAST USED\tEXPIRES\tCREATED", rows)
		return nil
	case "revoke":
		if len(pos) != 1 {
			return usageError{usage}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		if err := c.RevokeKey(ctx, tenant, pos[0]); err != nil {
			return err
		}
		if !cf.json {
			fmt.Fprintf(env.Stdout, "Revoked key %s; its tokens stop working too\n", pos[0])
		}
		return nil
	}
	return usageError{fmt.Sprintf("unknown keys command %q: use create, list or revoke", args[0])}
}

func runTokens(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: hookd tokens create [--ttl 1h]"}
	}
	var cf clientFlags
	fs := newFlagSet("tokens create", env)
	cf.register(fs, env)
	ttl := fs.Duration("ttl", 0, "how long the token lives, 1m to 720h (default 24h, never past its key's expiry)")
	if pos, err := parseArgs(fs, args[1:]); err != nil {
		return err
	} else if len(pos) != 0 {
		return usageError{"usage: hookd tokens create [--ttl 1h]"}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	tok, err := c.CreateToken(ctx, *ttl)
	if err != nil {
		return err
	}
	if cf.json {
		return printJSON(env.Stdout, tok)
	}
	fmt.Fprintf(env.Stdout, "Token %s of key %s, expires %s (shown only this once):\n\n    %s\n\n", tok.ID, tok.KeyID, at(tok.ExpiresAt), tok.Token)
	return nil
}

func runAudit(ctx context.Context, args []string, env Env) error {
	var cf clientFlags
	fs := newFlagSet("audit", env)
	cf.register(fs, env)
	action := fs.String("action", "", "only this action (endpoint.update) or resource type (endpoint.*)")
	since := fs.String("since", "", "only changes at or after this RFC 3339 time, or this long ago (e.g. 24h)")
	limit := fs.Int("limit", 50, "how many, newest first")
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return usageError{"usage: hookd audit [--tenant T] [--action A] [--since TIME] [--limit N]\n(without --tenant: the whole log, superadmin keys only)"}
	}
	f := hookd.AuditFilter{Action: *action, Page: hookd.Page{Limit: *limit}}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			d, derr := time.ParseDuration(*since)
			if derr != nil {
				return usageError{"--since must be an RFC 3339 time or a duration like 24h"}
			}
			t = time.Now().Add(-d)
		}
		f.Since = &t
	}
	tenant := ""
	if tenantGiven(fs, env) {
		tenant = cf.tenant
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	page, err := c.ListAudit(ctx, tenant, f)
	if err != nil {
		return err
	}
	if cf.json {
		return printJSON(env.Stdout, page)
	}
	rows := make([][]string, len(page.Data))
	for i, e := range page.Data {
		who := orDash(e.KeyID)
		if e.TokenID != "" {
			who += " (token " + e.TokenID + ")"
		}
		rows[i] = []string{at(e.At), orDash(e.TenantID), e.Action, e.ResourceID, who, string(e.Role)}
	}
	table(env.Stdout, "AT\tTENANT\tACTION\tRESOURCE\tBY KEY\tROLE", rows)
	if page.NextCursor != "" {
		fmt.Fprintf(env.Stdout, "(more: raise --limit, or use --json for the cursor)\n")
	}
	return nil
}

// runRotateMasterKey re-encrypts every stored secret with a new master
// key. It runs against the database directly, while hookd is stopped.
func runRotateMasterKey(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("rotate-master-key", env)
	db := fs.String("db", envOr(env, "HOOKD_DB", "hookd.db"), "database: a file path, sqlite:PATH or postgres://... (HOOKD_DB)")
	oldFile := fs.String("master-key-file", envOr(env, "HOOKD_MASTER_KEY_FILE", ""),
		"file with the current master key (HOOKD_MASTER_KEY_FILE; default hookd.key beside a SQLite database; HOOKD_MASTER_KEY overrides)")
	newFile := fs.String("new-key-file", "", "file with the new master key; created with a new random key (mode 0600) if it does not exist (required)")
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) != 0 || *newFile == "" {
		return usageError{"usage: hookd rotate-master-key --db DB [--master-key-file OLD] --new-key-file NEW\n" +
			"Stop every hookd node first: a node still running with the old key cannot read what this writes."}
	}
	old, oldDesc, err := currentMasterKey(*db, *oldFile, env)
	if err != nil {
		return err
	}
	if abs, _ := filepath.Abs(*newFile); oldDesc == abs {
		return usageError{"--new-key-file is the current master key file; name a new file"}
	}
	raw, created, err := vault.LoadOrCreateKeyFile(*newFile)
	if err != nil {
		return fmt.Errorf("new master key: %w", err)
	}
	next, err := vault.New(raw)
	if err != nil {
		return err
	}
	if next.KeyID() == old.KeyID() {
		return usageError{"the new master key is the current one"}
	}
	var store hookd.Store
	if isPostgres(*db) {
		store, err = postgres.Open(ctx, *db, postgres.Options{})
	} else {
		store, err = sqlite.Open(sqlitePath(*db), sqlite.Options{})
	}
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	n, err := store.ResealSecrets(ctx, old, next)
	if err != nil {
		return fmt.Errorf("nothing was changed: %w", err)
	}
	if created {
		fmt.Fprintf(env.Stdout, "Generated a new master key in %s (mode 0600).\n", *newFile)
	}
	fmt.Fprintf(env.Stdout, "Re-encrypted the signing secrets of %d endpoints with the new master key (id %s), in one transaction.\n\n", n, next.KeyID())
	fmt.Fprintf(env.Stdout, "Next:\n")
	fmt.Fprintf(env.Stdout, "  1. Start hookd with the new key: --master-key-file %s (or HOOKD_MASTER_KEY set to its contents).\n", *newFile)
	fmt.Fprintf(env.Stdout, "     Every node must use it; hookd cannot read the secrets with the old key any more.\n")
	fmt.Fprintf(env.Stdout, "  2. Back up the new key. Once hookd runs with it, destroy the old key (%s).\n", oldDesc)
	return nil
}

// currentMasterKey loads the master key the database is sealed with:
// HOOKD_MASTER_KEY, else the key file, which must exist. desc names where
// it came from (the file's absolute path).
func currentMasterKey(db, file string, env Env) (*vault.Vault, string, error) {
	if v := env.Getenv("HOOKD_MASTER_KEY"); v != "" {
		k, err := vault.ParseKey(v)
		if err != nil {
			return nil, "", usageError{"HOOKD_MASTER_KEY: " + err.Error()}
		}
		box, err := vault.New(k)
		return box, "HOOKD_MASTER_KEY", err
	}
	if file == "" {
		if isPostgres(db) {
			return nil, "", usageError{"with PostgreSQL, give the current key: --master-key-file or HOOKD_MASTER_KEY"}
		}
		file = filepath.Join(filepath.Dir(sqlitePath(db)), "hookd.key")
	}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		return nil, "", usageError{fmt.Sprintf("the current master key file %s does not exist: give --master-key-file or HOOKD_MASTER_KEY", file)}
	}
	k, _, err := vault.LoadOrCreateKeyFile(file)
	if err != nil {
		return nil, "", fmt.Errorf("current master key: %w", err)
	}
	box, err := vault.New(k)
	abs, _ := filepath.Abs(file)
	return box, abs, err
}
