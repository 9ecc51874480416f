package repo_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sqlitePool opens a pool over a fresh SQLite file of the test's own.
func sqlitePool(t testing.TB, cfg pool.Config) *pool.Pool {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "repo.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	cfg.Dialector = sqlite.Open(dsn)
	if cfg.MaxOpenConns == 0 {
		cfg.MaxOpenConns, cfg.MaxConcurrent = 1, 1
	}
	return open(t, cfg)
}

// pgPool opens a pool on the test PostgreSQL, or skips.
func pgPool(t testing.TB, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.DatabaseURL = testdb.Postgres(t)
	if cfg.MaxOpenConns == 0 {
		cfg.MaxOpenConns, cfg.MaxConcurrent = 4, 4
	}
	return open(t, cfg)
}

func open(t testing.TB, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.Logger = quiet
	p, err := pool.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pool.Open: %v", err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// migrate creates the models' tables (dropping leftovers first) and
// drops them when the test ends.
func migrate(t testing.TB, p *pool.Pool, models ...any) {
	t.Helper()
	m := p.Gorm().Migrator()
	if err := m.DropTable(models...); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if err := p.Gorm().AutoMigrate(models...); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Cleanup(func() { m.DropTable(models...) })
}
