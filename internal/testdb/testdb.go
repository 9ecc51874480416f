// Package testdb gives integration tests the URLs of the real services
// they need. A test whose service is not configured is skipped with a
// message, except under CI=true, where a missing service is a failure.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
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
	switch env {
	case EnvPostgres:
		return Postgres(t)
	case EnvPgBouncerSession:
		return PgBouncerSession(t)
	case EnvPgBouncerTx:
		return PgBouncerTx(t)
	}
	return lookup(t, env)
}

// lookup is URL without the locks.
func lookup(t testing.TB, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	msg := env + " is not set; start the services with `eval \"$(scripts/services.sh)\"`"
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and " + msg)
	}
	announceSkip(env, t.Name())
	t.Skip(msg)
	return ""
}

var announced sync.Map // env -> struct{}: said once per package (test binary)

// announceSkip says once per package and variable that integration tests
// are skipped, and which variable enables them. go test shows a passing
// package's output only with -v, where every SKIP line shows too, so the
// line goes to stderr under -v and else to the terminal, when there is one.
func announceSkip(env, first string) {
	if _, done := announced.LoadOrStore(env, struct{}{}); done {
		return
	}
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	line := fmt.Sprintf("testdb: %s: skipping the integration tests that need %s (first: %s); set it to run them, e.g. eval \"$(scripts/services.sh)\"\n",
		pkg, env, first)
	if testing.Verbose() {
		fmt.Fprint(os.Stderr, line)
		return
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		fmt.Fprint(tty, line)
		tty.Close()
	}
}

// Postgres is the URL of the real PostgreSQL server. The test holds a
// shared lock on the services until it ends (see PostgresExclusive).
func Postgres(t testing.TB) string {
	t.Helper()
	u := lookup(t, EnvPostgres)
	lock(t, lockServer, syscall.LOCK_SH)
	return u
}

// PgBouncerSession is the URL of the session-mode PgBouncer with the small
// max_client_conn that reproduces the seed's failure. The test has that
// PgBouncer to itself until it ends: its clients are the only ones.
func PgBouncerSession(t testing.TB) string {
	t.Helper()
	u := lookup(t, EnvPgBouncerSession)
	lock(t, lockServer, syscall.LOCK_SH)
	lock(t, lockSession, syscall.LOCK_EX)
	return u
}

// PgBouncerTx is the URL of the transaction-mode PgBouncer.
func PgBouncerTx(t testing.TB) string {
	t.Helper()
	u := lookup(t, EnvPgBouncerTx)
	lock(t, lockServer, syscall.LOCK_SH)
	return u
}

// CreateDatabase creates a fresh, uniquely named database on the
// PostgreSQL server of Postgres(t) (skipping t when that is unset) and
// drops it, connections included, when t ends. The name starts with
// prefix, which must be a lowercase identifier. Use it so that tests of
// different packages running at once on the same server do not collide.
func CreateDatabase(t testing.TB, prefix string) string {
	t.Helper()
	admin := Postgres(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: random name: %v", err)
	}
	name := prefix + "_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", EnvPostgres, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	return name
}

// WithDatabase returns rawURL (a postgres:// URL) pointing at database
// name instead, its query (sslmode, pgbouncer=true, …) kept.
func WithDatabase(t testing.TB, rawURL, name string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("testdb: parse URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// LimitedRole creates a login role that may hold at most limit
// connections (CONNECTION LIMIT) and create tables in the public schema of
// the database dbURL names, and returns dbURL as that role. When t ends the
// role's connections are ended and the role and what it owns dropped.
func LimitedRole(t testing.TB, dbURL string, limit int) string {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatalf("testdb: open: %v", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: random name: %v", err)
	}
	role := "tg_limited_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN CONNECTION LIMIT %d", role, limit),
		"GRANT CREATE, USAGE ON SCHEMA public TO " + role,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			t.Fatalf("testdb: %s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		defer db.Close()
		db.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		var err error
		for range 50 { // a terminated backend leaves pg_stat_activity shortly after
			if _, err = db.Exec("DROP OWNED BY " + role); err == nil {
				if _, err = db.Exec("DROP ROLE " + role); err == nil {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("testdb: drop role %s: %v", role, err)
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("testdb: parse URL: %v", err)
	}
	u.User = url.User(role)
	return u.String()
}
