package migrations_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

const secret = "s3cr3t-Pa55"

func TestNewRejectsBadInput(t *testing.T) {
	ctx := testCtx(t)
	p := sqlitePool(t, ctx)
	up := func(context.Context, *sql.Tx) error { return nil }
	one := fstest.MapFS{"00001_a.sql": sqlFile("CREATE TABLE a (x int);", "DROP TABLE a;")}
	tests := []struct {
		name string
		pool *pool.Pool
		cfg  migrations.Config
		want string // in the error text
	}{
		{"no migrations", p, migrations.Config{}, "no migrations"},
		{"empty FS", p, migrations.Config{FS: fstest.MapFS{"README.md": {Data: []byte("x")}}}, "no migrations"},
		{"duplicate Go versions", p, migrations.Config{GoMigrations: []migrations.Migration{{Version: 1, Name: "a", Up: up}, {Version: 1, Name: "b", Up: up}}}, "duplicate version 1"},
		{"duplicate SQL versions", p, migrations.Config{FS: fstest.MapFS{
			"00001_a.sql": sqlFile("SELECT 1;", "SELECT 1;"),
			"01_b.sql":    sqlFile("SELECT 1;", "SELECT 1;"),
		}}, "1"},
		{"SQL and Go share a version", p, migrations.Config{FS: one, GoMigrations: []migrations.Migration{{Version: 1, Up: up}}}, "1"},
		{"Go version zero", p, migrations.Config{GoMigrations: []migrations.Migration{{Up: up}}}, "must be positive"},
		{"Go migration without Up", p, migrations.Config{GoMigrations: []migrations.Migration{{Version: 1}}}, "Up is nil"},
		{"bad table name", p, migrations.Config{FS: one, Table: "versions; DROP TABLE x"}, "table name"},
		{"negative lock timeout", p, migrations.Config{FS: one, LockTimeout: -time.Second}, "negative"},
		{"missing Dir", p, migrations.Config{FS: one, Dir: "nope"}, "no migrations"},
		{"nil pool, no DirectURL", nil, migrations.Config{FS: one}, "nil pool"},
		{"DirectURL with an SQLite pool", p, migrations.Config{FS: one, DirectURL: "postgres://u:" + secret + "@127.0.0.1/db"}, "SQLite"},
		{"malformed DirectURL", nil, migrations.Config{FS: one, DirectURL: "postgres://u:" + secret + "@127.0.0.1:notaport/db"}, "DirectURL"},
		{"DirectURL with a bad scheme", nil, migrations.Config{FS: one, DirectURL: "mysql://u:" + secret + "@127.0.0.1/db"}, "DirectURL"},
		{"DirectURL with a bad parameter", nil, migrations.Config{FS: one, DirectURL: "postgres://u:" + secret + "@127.0.0.1/db?connection_limit=x"}, "DirectURL"},
		{"DirectURL with a bad sslmode", nil, migrations.Config{FS: one, DirectURL: "postgres://u:" + secret + "@127.0.0.1/db?sslmode=bogus"}, "DirectURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := migrations.New(tt.pool, tt.cfg)
			if err == nil {
				m.Close()
				t.Fatal("New succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, migrations.ErrInvalidConfig) {
				t.Errorf("error %q does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
	var n int
	if err := p.SQL().QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the database has %d objects (%v) after rejected configs, want none", n, err)
	}
}

// An unreachable DirectURL fails at Up, not at New, and the error does not
// contain the password.
func TestUnreachableDirectURLHidesPassword(t *testing.T) {
	ctx := testCtx(t)
	m, err := migrations.New(nil, migrations.Config{
		FS:        fstest.MapFS{"00001_a.sql": sqlFile("CREATE TABLE a (x int);", "DROP TABLE a;")},
		DirectURL: "postgres://tollgate:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2&pgbouncer=true",
		Logger:    quiet,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer m.Close()
	for name, call := range map[string]func() error{
		"Up":      func() error { _, err := m.Up(ctx); return err },
		"Down":    func() error { _, err := m.Down(ctx); return err },
		"Status":  func() error { _, err := m.Status(ctx); return err },
		"Version": func() error { _, err := m.Version(ctx); return err },
	} {
		err := call()
		if err == nil {
			t.Fatalf("%s on a closed port succeeded", name)
		}
		t.Logf("%s: %v", name, err)
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s error %q contains the password", name, err)
		}
	}
}

func TestClose(t *testing.T) {
	ctx := testCtx(t)
	m := newMigrator(t, sqlitePool(t, ctx), migrations.Config{FS: fstest.MapFS{"1_a.sql": sqlFile("CREATE TABLE a (x int);", "DROP TABLE a;")}})
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Up(ctx); !errors.Is(err, migrations.ErrClosed) {
		t.Fatalf("Up after Close = %v, want ErrClosed", err)
	}
}

// A lock held past LockTimeout is reported as ErrLocked (SQLite: the
// process-wide lock).
func TestLockTimeoutSQLite(t *testing.T) {
	ctx := testCtx(t)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := migrations.Config{GoMigrations: []migrations.Migration{{Version: 1, Name: "slow", Up: func(ctx context.Context, _ *sql.Tx) error {
		close(entered)
		<-release
		return nil
	}}}}
	m1 := newMigrator(t, sqlitePool(t, ctx), slow)
	m2 := newMigrator(t, sqlitePool(t, ctx), migrations.Config{FS: fstest.MapFS{"1_a.sql": sqlFile("CREATE TABLE a (x int);", "DROP TABLE a;")}, LockTimeout: 100 * time.Millisecond})
	done := make(chan error, 1)
	go func() { _, err := m1.Up(ctx); done <- err }()
	<-entered
	_, err := m2.Up(ctx)
	close(release)
	if !errors.Is(err, migrations.ErrLocked) {
		t.Errorf("Up while another migrator holds the lock = %v, want ErrLocked", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the lock holder's Up: %v", err)
	}
}

// Printing or logging a Config shows DirectURL redacted.
func TestConfigPrintsRedacted(t *testing.T) {
	const pw = "Qx7PASSWORDzz9"
	cfg := migrations.Config{DirectURL: "postgres://u:" + pw + "@h/db?sslpassword=" + pw}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "cfg", cfg)
	out := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, buf.String())
	if strings.Contains(out, pw) || !strings.Contains(out, "postgres://u:xxxxx@h/db") {
		t.Fatalf("printing a Config: %s", out)
	}
}
