// Package sqlite is hookd's embedded store: one SQLite file in WAL mode
// through a pure-Go driver, so hookd runs with zero setup.
//
// All writes go through one goroutine that owns the only write connection.
// It takes every write request waiting in its queue (up to a cap), runs them
// in one transaction with a savepoint each, so a failing request rolls back
// only itself, commits once with synchronous=FULL, and then answers them all:
// group commit. Reads use a separate pool of read-only connections.
package sqlite
