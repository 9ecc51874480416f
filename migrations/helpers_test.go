package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"testing/fstest"
	"time"

	"github.com/glebarez/sqlite"

	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

// quiet is the logger of the tests: errors only.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openPool opens a pool on rawURL, closed when t ends.
func openPool(t *testing.T, ctx context.Context, cfg pool.Config) *pool.Pool {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	p, err := pool.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("pool.Open: %v", err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func sqlitePool(t *testing.T, ctx context.Context) *pool.Pool {
	return openPool(t, ctx, pool.Config{Dialector: sqlite.Open(t.TempDir() + "/test.db")})
}

func newMigrator(t *testing.T, p *pool.Pool, cfg migrations.Config) *migrations.Migrator {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	m, err := migrations.New(p, cfg)
	if err != nil {
		t.Fatalf("migrations.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// sqlFile is an SQL migration with goose annotations.
func sqlFile(up, down string) *fstest.MapFile {
	return &fstest.MapFile{Data: fmt.Appendf(nil, "-- +goose Up\n%s\n-- +goose Down\n%s\n", up, down)}
}

// logged is an SQL migration that also records itself in mig_log, so that
// a test can count how often it ran.
func logged(v int, up, down string) *fstest.MapFile {
	return sqlFile(fmt.Sprintf("%s\nINSERT INTO mig_log (version) VALUES (%d);", up, v),
		fmt.Sprintf("%s\nDELETE FROM mig_log WHERE version = %d;", down, v))
}

// schemaFS is the PostgreSQL schema of the integration tests, versions
// 1 and 2; goSchema adds version 3.
func schemaFS() fstest.MapFS {
	return fstest.MapFS{
		"00001_users.sql": sqlFile(
			"CREATE TABLE mig_log (version int NOT NULL, at timestamptz NOT NULL DEFAULT now());\n"+
				"INSERT INTO mig_log (version) VALUES (1);\n"+
				"CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE);",
			"DROP TABLE users;\nDROP TABLE mig_log;"),
		"00002_user_name.sql": logged(2, "ALTER TABLE users ADD COLUMN name text;", "ALTER TABLE users DROP COLUMN name;"),
	}
}

var goSchema = migrations.Migration{
	Version: 3,
	Name:    "posts",
	Up: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE posts (id bigserial PRIMARY KEY, user_id bigint REFERENCES users, body text);
INSERT INTO mig_log (version) VALUES (3)`)
		return err
	},
	Down: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DROP TABLE posts; DELETE FROM mig_log WHERE version = 3`)
		return err
	},
}

func versions(rs []migrations.Result) []int64 {
	out := make([]int64, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Version)
	}
	return out
}
