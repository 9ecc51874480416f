package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

// pgTarget is a fresh database reached directly and through the
// transaction-mode PgBouncer.
type pgTarget struct {
	direct, tx string
}

func freshDatabase(t *testing.T, withTx bool) pgTarget {
	t.Helper()
	direct := testdb.Postgres(t)
	var tx string
	if withTx {
		tx = testdb.PgBouncerTx(t)
	}
	name := testdb.CreateDatabase(t, "tollgate_mig")
	tg := pgTarget{direct: testdb.WithDatabase(t, direct, name)}
	if withTx {
		tg.tx = testdb.WithDatabase(t, tx, name) + "&pgbouncer=true"
	}
	return tg
}

func TestConcurrentUpPostgres(t *testing.T) {
	t.Parallel()
	concurrentUp(t, freshDatabase(t, false).direct)
}

func TestConcurrentUpThroughPgBouncerTxMode(t *testing.T) {
	t.Parallel()
	concurrentUp(t, freshDatabase(t, true).tx)
}

// concurrentUp has eight instances, each with its own pool, call Up at
// the same moment: every migration must run exactly once and every
// caller succeed.
func concurrentUp(t *testing.T, url string) {
	ctx := testCtx(t)
	const instances = 8
	ms := make([]*migrations.Migrator, instances)
	for i := range ms {
		p := openPool(t, ctx, pool.Config{DatabaseURL: url})
		ms[i] = newMigrator(t, p, migrations.Config{FS: schemaFS(), GoMigrations: []migrations.Migration{goSchema}})
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, instances)
	applied := make([][]migrations.Result, instances)
	for i, m := range ms {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = m.Up(ctx)
		})
	}
	close(start)
	wg.Wait()

	var all []int64
	for i := range ms {
		if errs[i] != nil {
			t.Errorf("instance %d: Up: %v", i, errs[i])
		}
		all = append(all, versions(applied[i])...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []int64{1, 2, 3}) {
		t.Errorf("applied across instances = %v, want each of [1 2 3] once", all)
	}

	db := openPool(t, ctx, pool.Config{DatabaseURL: url}).SQL()
	counts := map[int64]int{}
	rows, err := db.QueryContext(ctx, `SELECT version, count(*) FROM mig_log GROUP BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		counts[v] = n
	}
	if want := map[int64]int{1: 1, 2: 1, 3: 1}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("migration runs per version = %v, want %v", counts, want)
	}
	var rowsN, distinct int
	var maxV int64
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version_id), max(version_id) FROM `+migrations.DefaultTable).Scan(&rowsN, &distinct, &maxV); err != nil {
		t.Fatal(err)
	}
	if rowsN != 4 || distinct != 4 || maxV != 3 {
		t.Errorf("version table: %d rows, %d distinct, max %d; want 4 rows (0..3), 4 distinct, max 3", rowsN, distinct, maxV)
	}
	for i, m := range ms {
		if v, err := m.Version(ctx); err != nil || v != 3 {
			t.Errorf("instance %d: Version = %d, %v; want 3", i, v, err)
		}
	}
}

func TestFailingMigrationPostgres(t *testing.T) {
	t.Parallel()
	tg := freshDatabase(t, true)
	ctx := testCtx(t)
	p := openPool(t, ctx, pool.Config{DatabaseURL: tg.tx})
	broken := fstest.MapFS{
		"00001_a.sql":   sqlFile("CREATE TABLE a (x int);", "DROP TABLE a;"),
		"00002_bad.sql": sqlFile("CREATE TABLE b (x int);\nINSERT INTO no_such_table VALUES (1);", "DROP TABLE b;"),
		"00003_c.sql":   sqlFile("CREATE TABLE c (x int);", "DROP TABLE c;"),
	}
	checkFailingMigration(t, ctx, p, broken, func(fs fstest.MapFS) {
		fs["00002_bad.sql"] = sqlFile("CREATE TABLE b (x int);", "DROP TABLE b;")
	}, func(table string) bool {
		var ok bool
		if err := p.SQL().QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	})
}

// columns describes the schema: every column of the public schema's tables.
func columns(t *testing.T, ctx context.Context, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b, c, d, e string
		if err := rows.Scan(&a, &b, &c, &d, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{a, b, c, d, e}, " "))
	}
	return out
}

func TestDownThenUpRestoresSchema(t *testing.T) {
	t.Parallel()
	tg := freshDatabase(t, false)
	ctx := testCtx(t)
	p := openPool(t, ctx, pool.Config{DatabaseURL: tg.direct})
	m := newMigrator(t, p, migrations.Config{FS: schemaFS(), GoMigrations: []migrations.Migration{goSchema}})
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	want := columns(t, ctx, p.SQL())
	for _, v := range []int64{3, 2} {
		r, err := m.Down(ctx)
		if err != nil || r.Version != v {
			t.Fatalf("Down = %+v, %v; want version %d", r, err, v)
		}
	}
	if slices.Equal(columns(t, ctx, p.SQL()), want) {
		t.Fatal("schema unchanged after two Downs")
	}
	if _, err := m.Down(ctx); err != nil {
		t.Fatalf("Down to 0: %v", err)
	}
	if _, err := m.Down(ctx); !errors.Is(err, migrations.ErrNothingToRollBack) {
		t.Fatalf("Down at version 0 = %v, want ErrNothingToRollBack", err)
	}
	res, err := m.Up(ctx)
	if err != nil || !slices.Equal(versions(res), []int64{1, 2, 3}) {
		t.Fatalf("Up again = %v, %v", versions(res), err)
	}
	if got := columns(t, ctx, p.SQL()); !slices.Equal(got, want) {
		t.Errorf("schema after Down and Up:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	st, err := m.Status(ctx)
	if err != nil || len(st) != 3 || !st[2].Applied || st[2].Name != "posts" {
		t.Errorf("Status = %+v, %v", st, err)
	}
}

// With DirectURL the migrations run over the direct connection while the
// pool goes through the transaction pooler.
func TestDirectURL(t *testing.T) {
	t.Parallel()
	tg := freshDatabase(t, true)
	ctx := testCtx(t)
	p := openPool(t, ctx, pool.Config{DatabaseURL: tg.tx, ApplicationName: "tollgate-app"})
	recordApp := migrations.Migration{Version: 1, Name: "record application_name", Up: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE seen AS SELECT current_setting('application_name') AS app`)
		return err
	}}
	m := newMigrator(t, p, migrations.Config{GoMigrations: []migrations.Migration{recordApp}, DirectURL: tg.direct})
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	var app string
	if err := p.SQL().QueryRowContext(ctx, `SELECT app FROM seen`).Scan(&app); err != nil {
		t.Fatal(err)
	}
	if app != "tollgate-migrations" {
		t.Errorf("the migration ran as application_name %q, want the DirectURL connection's \"tollgate-migrations\"", app)
	}
	// The pool sees the result; a migrator with no pool works too.
	m2 := newMigrator(t, nil, migrations.Config{GoMigrations: []migrations.Migration{recordApp}, DirectURL: tg.direct})
	if v, err := m2.Version(ctx); err != nil || v != 1 {
		t.Errorf("Version over DirectURL alone = %d, %v; want 1", v, err)
	}
}

// A lock held past LockTimeout is reported as ErrLocked, through the
// transaction pooler too.
func TestLockTimeoutPostgres(t *testing.T) {
	t.Parallel()
	tg := freshDatabase(t, true)
	ctx := testCtx(t)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := migrations.Migration{Version: 1, Name: "slow", Up: func(ctx context.Context, _ *sql.Tx) error {
		close(entered)
		<-release
		return nil
	}}
	m1 := newMigrator(t, openPool(t, ctx, pool.Config{DatabaseURL: tg.tx}), migrations.Config{GoMigrations: []migrations.Migration{slow}})
	m2 := newMigrator(t, openPool(t, ctx, pool.Config{DatabaseURL: tg.tx}), migrations.Config{
		GoMigrations: []migrations.Migration{slow}, LockTimeout: 300 * time.Millisecond,
	})
	done := make(chan error, 1)
	go func() { _, err := m1.Up(ctx); done <- err }()
	<-entered
	start := time.Now()
	_, err := m2.Up(ctx)
	waited := time.Since(start)
	close(release)
	t.Logf("Up while locked: %v", err)
	if !errors.Is(err, migrations.ErrLocked) {
		t.Errorf("Up while another instance holds the lock = %v, want ErrLocked", err)
	}
	if waited > 5*time.Second {
		t.Errorf("Up waited %s for the lock, LockTimeout is 300ms", waited)
	}
	if err := <-done; err != nil {
		t.Fatalf("the lock holder's Up: %v", err)
	}
	if v, err := m2.Version(ctx); err != nil || v != 1 {
		t.Fatalf("Version = %d, %v; want 1", v, err)
	}
}

// A mixed-case Table works on every run, not only the first: PostgreSQL
// folds the unquoted name goose creates, so the second Up, with a new
// Migrator, must find the table and apply nothing.
func TestMixedCaseTablePostgres(t *testing.T) {
	t.Parallel()
	tg := freshDatabase(t, false)
	ctx := testCtx(t)
	p := openPool(t, ctx, pool.Config{DatabaseURL: tg.direct})
	cfg := migrations.Config{FS: schemaFS(), Table: "SchemaVersions"}
	for run := 1; run <= 2; run++ {
		res, err := newMigrator(t, p, cfg).Up(ctx)
		if err != nil {
			t.Fatalf("Up #%d: %v", run, err)
		}
		want := []int64{1, 2}
		if run == 2 {
			want = []int64{}
		}
		if got := versions(res); !slices.Equal(got, want) {
			t.Fatalf("Up #%d applied %v, want %v", run, got, want)
		}
	}
	st, err := newMigrator(t, p, cfg).Status(ctx)
	if err != nil || len(st) != 2 || !st[0].Applied || !st[1].Applied {
		t.Fatalf("Status: %v %+v", err, st)
	}
	var n int
	if err := p.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('schemaversions', 'schemaversions_lock')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("tables schemaversions and schemaversions_lock: %d found, %v", n, err)
	}
}
