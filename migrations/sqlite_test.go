package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

func TestSQLite(t *testing.T) {
	ctx := testCtx(t)
	p := sqlitePool(t, ctx)
	m := newMigrator(t, p, migrations.Config{
		FS: fstest.MapFS{
			"sql/00001_users.sql": sqlFile("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);", "DROP TABLE users;"),
			"sql/00002_name.sql":  sqlFile("ALTER TABLE users ADD COLUMN name TEXT;", "ALTER TABLE users DROP COLUMN name;"),
			"sql/README.md":       {Data: []byte("not a migration")},
		},
		Dir: "sql",
		GoMigrations: []migrations.Migration{{Version: 3, Name: "seed", Up: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO users (email, name) VALUES ('a@b.c', 'A')`)
			return err
		}}},
	})

	if v, err := m.Version(ctx); err != nil || v != 0 {
		t.Fatalf("Version before Up = %d, %v; want 0", v, err)
	}
	res, err := m.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if got := versions(res); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("Up applied %v, want [1 2 3]", got)
	}
	if res[0].Name != "00001_users.sql" || res[2].Name != "seed" || res[0].Direction != "up" {
		t.Errorf("results = %+v", res)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	for _, s := range st {
		if !s.Applied || s.AppliedAt.IsZero() {
			t.Errorf("status %+v: want applied", s)
		}
	}

	// Down without a Down function only removes the version.
	r, err := m.Down(ctx)
	if err != nil || r.Version != 3 || r.Direction != "down" {
		t.Fatalf("Down = %+v, %v; want version 3", r, err)
	}
	if r, err = m.Down(ctx); err != nil || r.Version != 2 {
		t.Fatalf("Down = %+v, %v; want version 2", r, err)
	}
	if v, _ := m.Version(ctx); v != 1 {
		t.Fatalf("Version after two Downs = %d, want 1", v)
	}
	if res, err = m.Up(ctx); err != nil || !slices.Equal(versions(res), []int64{2, 3}) {
		t.Fatalf("Up again = %v, %v; want [2 3]", versions(res), err)
	}
	if res, err = m.Up(ctx); err != nil || len(res) != 0 {
		t.Fatalf("Up when up to date = %v, %v; want a no-op", versions(res), err)
	}
	var n int
	if err := p.SQL().QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("users = %d, %v; want 2 (the seed ran twice, the Down kept its row)", n, err)
	}
}

func TestSQLiteDownWhenNothingApplied(t *testing.T) {
	ctx := testCtx(t)
	m := newMigrator(t, sqlitePool(t, ctx), migrations.Config{FS: fstest.MapFS{"1_a.sql": sqlFile("CREATE TABLE a (x int);", "DROP TABLE a;")}})
	if _, err := m.Down(ctx); !errors.Is(err, migrations.ErrNothingToRollBack) {
		t.Fatalf("Down on an empty database = %v, want ErrNothingToRollBack", err)
	}
}

func TestFailingMigrationSQLite(t *testing.T) {
	ctx := testCtx(t)
	p := sqlitePool(t, ctx)
	broken := fstest.MapFS{
		"00001_a.sql":   sqlFile("CREATE TABLE a (x int);", "DROP TABLE a;"),
		"00002_bad.sql": sqlFile("CREATE TABLE b (x int);\nINSERT INTO no_such_table VALUES (1);", "DROP TABLE b;"),
		"00003_c.sql":   sqlFile("CREATE TABLE c (x int);", "DROP TABLE c;"),
	}
	checkFailingMigration(t, ctx, p, broken, func(fs fstest.MapFS) {
		fs["00002_bad.sql"] = sqlFile("CREATE TABLE b (x int);", "DROP TABLE b;")
	}, func(table string) bool {
		var n int
		err := p.SQL().QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
}

// checkFailingMigration runs broken (whose version 2 fails), checks the
// error and the recorded version, fixes it and runs again.
func checkFailingMigration(t *testing.T, ctx context.Context, p *pool.Pool, broken fstest.MapFS, fix func(fstest.MapFS), tableExists func(string) bool) {
	t.Helper()
	m := newMigrator(t, p, migrations.Config{FS: broken})
	res, err := m.Up(ctx)
	var me *migrations.MigrationError
	if !errors.As(err, &me) {
		t.Fatalf("Up = %v, want a *MigrationError", err)
	}
	if me.Version != 2 || me.Name != "00002_bad.sql" || me.Direction != "up" {
		t.Errorf("MigrationError = %+v, want up 00002_bad.sql version 2", me)
	}
	if !strings.Contains(err.Error(), "00002_bad.sql") || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("error %q does not name the migration", err)
	}
	if !slices.Equal(versions(res), []int64{1}) || !slices.Equal(versions(me.Applied), []int64{1}) {
		t.Errorf("applied before the failure = %v / %v, want [1]", versions(res), versions(me.Applied))
	}
	if v, err := m.Version(ctx); err != nil || v != 1 {
		t.Fatalf("Version after the failure = %d, %v; want 1", v, err)
	}
	if tableExists("b") {
		t.Errorf("table b of the failed migration exists: it was not rolled back")
	}

	fixed := fstest.MapFS{}
	for k, v := range broken {
		fixed[k] = v
	}
	fix(fixed)
	m2 := newMigrator(t, p, migrations.Config{FS: fixed})
	if res, err = m2.Up(ctx); err != nil || !slices.Equal(versions(res), []int64{2, 3}) {
		t.Fatalf("Up after the fix = %v, %v; want [2 3]", versions(res), err)
	}
	if res, err = m2.Up(ctx); err != nil || len(res) != 0 {
		t.Fatalf("Up when up to date = %v, %v; want a no-op", versions(res), err)
	}
	if v, _ := m2.Version(ctx); v != 3 {
		t.Fatalf("Version = %d, want 3", v)
	}
	if !tableExists("b") || !tableExists("c") {
		t.Errorf("tables b and c missing after the fix")
	}
}
