// Package testdb gives integration tests the URLs of the real services
// they need. A test whose service is not configured is skipped with a
// message, except under CI=true, where a missing service is a failure.
package testdb

import (
	"os"
	"testing"
)

// The environment variables scripts/services.sh prints.
const (
	EnvPostgres         = "TOLLGATE_TEST_DATABASE_URL"
	EnvPgBouncerSession = "TOLLGATE_TEST_PGBOUNCER_SESSION_URL"
	EnvPgBouncerTx      = "TOLLGATE_TEST_PGBOUNCER_TX_URL"
)

// URL returns the value of env, or skips t (fails it under CI=true) when
// it is unset.
func URL(t testing.TB, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	msg := env + " is not set; start the services with `eval \"$(scripts/services.sh)\"`"
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and " + msg)
	}
	t.Skip(msg)
	return ""
}

// Postgres is the URL of the real PostgreSQL server.
func Postgres(t testing.TB) string { return URL(t, EnvPostgres) }

// PgBouncerSession is the URL of the session-mode PgBouncer with the small
// max_client_conn that reproduces the seed's failure.
func PgBouncerSession(t testing.TB) string { return URL(t, EnvPgBouncerSession) }

// PgBouncerTx is the URL of the transaction-mode PgBouncer.
func PgBouncerTx(t testing.TB) string { return URL(t, EnvPgBouncerTx) }
