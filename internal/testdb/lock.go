package testdb

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Test packages run in parallel processes against the same services. Two
// kinds of test must not overlap with others: one that restarts PostgreSQL
// (everything else would fail), and one that counts on the session-mode
// PgBouncer's small max_client_conn (another test's clients would take its
// slots). File locks, held for the life of the test, keep them apart:
// every use of a server takes a shared lock; a restart takes it exclusively.
const (
	lockServer  = "tollgate-test-server.lock"
	lockSession = "tollgate-test-pgbouncer-session.lock"
)

// lock takes a flock on the named file in the temp directory, released
// when t ends. It blocks until the lock is free.
func lock(t testing.TB, name string, how int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("testdb: lock %s: %v", name, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		t.Fatalf("testdb: lock %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// PostgresExclusive is Postgres for a test that disrupts the server
// (restarts it, say): it waits until no other test, in any package, is
// using the services, and keeps them from starting until t ends. Do not
// call Postgres, PgBouncerSession or PgBouncerTx in the same test before it.
func PostgresExclusive(t testing.TB) string {
	t.Helper()
	u := lookup(t, EnvPostgres)
	lock(t, lockServer, syscall.LOCK_EX)
	return u
}
