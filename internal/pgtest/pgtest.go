// Package pgtest gives tests a PostgreSQL schema of their own. The database
// is named by HOOKD_TEST_POSTGRES; without it, or when it cannot be reached,
// tests are skipped, unless CI=true: CI must not pass by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Unavailable skips the test, or fails it when CI=true.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: PostgreSQL tests must run)")
	}
	t.Skip(msg)
}

// DSN returns HOOKD_TEST_POSTGRES once it has answered a connection.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("HOOKD_TEST_POSTGRES")
	if dsn == "" {
		Unavailable(t, "HOOKD_TEST_POSTGRES is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		Unavailable(t, "PostgreSQL at HOOKD_TEST_POSTGRES is unreachable: %v", err)
	}
	conn.Close(context.Background())
	return dsn
}

// Schema creates an empty schema, dropped when the test ends, and returns a
// DSN whose search_path is that schema, and the schema's name.
func Schema(t testing.TB) (dsn, schema string) {
	t.Helper()
	base := DSN(t)
	var b [6]byte
	rand.Read(b[:])
	schema = "test_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithParam(t, base, "search_path", schema), schema
}

// WithParam returns dsn with the query parameter k set to v.
func WithParam(t testing.TB, dsn, k, v string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("HOOKD_TEST_POSTGRES must be a postgres:// URL")
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}
