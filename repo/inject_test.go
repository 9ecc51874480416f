package repo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type injUser struct {
	ID        uint
	Name      string
	Email     string `gorm:"uniqueIndex"`
	Age       int
	DeletedAt gorm.DeletedAt
	Secret    string `gorm:"-"`
}

func (injUser) TableName() string { return "repo_inj_users" }

// known are the names that must be accepted: Go field names and columns.
var known = map[string]string{
	"ID": "id", "id": "id", "Name": "name", "name": "name", "Email": "email", "email": "email",
	"Age": "age", "age": "age", "DeletedAt": "deleted_at", "deleted_at": "deleted_at",
}

// dryRunner is a Runner over a PostgreSQL-dialect GORM in DryRun mode:
// statements are built, recorded and never sent.
type dryRunner struct {
	db    *gorm.DB
	calls atomic.Int64
	mu    sync.Mutex
	sql   []string
}

func newDryRunner(t testing.TB) *dryRunner {
	t.Helper()
	db, err := gorm.Open(postgres.New(postgres.Config{DSN: "host=127.0.0.1 port=1 dbname=none sslmode=disable"}),
		&gorm.Config{DryRun: true, DisableAutomaticPing: true, SkipDefaultTransaction: true, Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	d := &dryRunner{db: db}
	rec := func(db *gorm.DB) {
		d.mu.Lock()
		d.sql = append(d.sql, db.Statement.SQL.String())
		d.mu.Unlock()
	}
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("test:record", rec),
		cb.Create().After("gorm:create").Register("test:record", rec),
		cb.Update().After("gorm:update").Register("test:record", rec),
		cb.Delete().After("gorm:delete").Register("test:record", rec),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d *dryRunner) Do(ctx context.Context, fn func(ctx context.Context, db *gorm.DB) error, _ ...pool.CallOption) error {
	d.calls.Add(1)
	return fn(ctx, d.db.WithContext(ctx))
}

func (d *dryRunner) take() (int64, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sql
	d.sql = nil
	return d.calls.Swap(0), s
}

type use struct {
	name string
	run  func() error
}

// fieldUses are the calls of every method that takes a field name, with
// name in that place.
func fieldUses(ctx context.Context, r *repo.Repository[injUser], name string) []use {
	return []use{
		{"filter", func() error { _, err := r.Find(ctx, repo.Where(name, repo.Eq, 1)); return err }},
		{"and", func() error {
			_, err := r.Count(ctx, repo.Where("name", repo.Eq, "x").And(name, repo.IsNull, nil))
			return err
		}},
		{"sort", func() error { _, err := r.Find(ctx, repo.All().OrderBy(name, repo.Desc).Limit(3)); return err }},
		{"page", func() error { _, err := r.Page(ctx, repo.All().OrderBy(name, repo.Asc).Limit(3), ""); return err }},
		{"first", func() error { _, err := r.First(ctx, repo.Where(name, repo.In, []int{1, 2})); return err }},
		{"update", func() error { return r.UpdateFields(ctx, 1, map[string]any{name: "v"}) }},
		{"upsert conflict", func() error { return r.Upsert(ctx, []injUser{{Name: "a", Email: "a@x"}}, []string{name}) }},
		{"upsert update", func() error {
			return r.Upsert(ctx, []injUser{{Name: "a", Email: "a@x"}}, []string{"email"}, name)
		}},
	}
}

// checkFieldName asserts the injection invariant for one name.
func checkFieldName(t *testing.T, d *dryRunner, r *repo.Repository[injUser], name string) {
	t.Helper()
	ctx := context.Background()
	d.take()
	col, ok := known[name]
	for _, u := range fieldUses(ctx, r, name) {
		use, err := u.name, u.run()
		calls, stmts := d.take()
		if !ok {
			if !errors.Is(err, repo.ErrUnknownField) {
				t.Fatalf("%s %q: err = %v, want ErrUnknownField", use, name, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Fatalf("%s %q: error %q does not name the field", use, name, err)
			}
			if calls != 0 || len(stmts) != 0 {
				t.Fatalf("%s %q: rejected name reached the Runner (%d calls, %q)", use, name, calls, stmts)
			}
			continue
		}
		// Accepted: a real column. Only the primary key may be refused
		// (it cannot be updated).
		// (A dry run affects no row: UpdateFields says not found.)
		switch {
		case err == nil, errors.Is(err, repo.ErrNotFound):
		case col == "id" && errors.Is(err, repo.ErrInvalidQuery):
			continue
		default:
			t.Fatalf("%s %q: %v", use, name, err)
		}
		if len(stmts) == 0 || !strings.Contains(strings.Join(stmts, "\n"), `"`+col+`"`) {
			t.Fatalf("%s %q: statements %q do not use the quoted column %q", use, name, stmts, col)
		}
	}
}

func TestFieldNameInjection(t *testing.T) {
	d := newDryRunner(t)
	r := repo.New[injUser](d)
	for _, name := range []string{
		"name; DROP TABLE users--", "name; drop table repo_inj_users;", `"name"`, "`name`", "name--",
		"name/*", " name", "name ", "NAME", "users.name", "repo_inj_users.name", "CASE WHEN EXISTS(SELECT 1) THEN id ELSE name END",
		"1=1 OR 1=1", "name DESC, (SELECT pg_sleep(10))", "id) OR (1=1", "Secret", "secret", "", "*", "?", "$1",
		"name\x00", "nаme", // Cyrillic a
		"name", "Name", "ID", "deleted_at",
	} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) { checkFieldName(t, d, r, name) })
	}
}

func FuzzFieldNames(f *testing.F) {
	for _, s := range []string{"name", "Email", "name; DROP TABLE users--", `"age"`, "id) OR (1=1", "deleted_at IS NULL OR 1=1", ""} {
		f.Add(s)
	}
	d := newDryRunner(f)
	r := repo.New[injUser](d)
	f.Fuzz(func(t *testing.T, name string) { checkFieldName(t, d, r, name) })
}

// TestValuesAreBound: values never reach the SQL text, and SQL given as
// a value is refused.
func TestValuesAreBound(t *testing.T) {
	d := newDryRunner(t)
	r := repo.New[injUser](d)
	ctx := context.Background()
	payload := "x'); DROP TABLE repo_inj_users; --"
	d.take()
	if _, err := r.Find(ctx, repo.Where("name", repo.Eq, payload).And("email", repo.Like, payload).And("age", repo.In, []string{payload})); err != nil {
		t.Fatal(err)
	}
	_, stmts := d.take()
	if len(stmts) != 1 || strings.Contains(stmts[0], "DROP") {
		t.Fatalf("statements %q", stmts)
	}
	want := `SELECT * FROM "repo_inj_users" WHERE "repo_inj_users"."name" = $1 AND "repo_inj_users"."email" LIKE $2 ESCAPE '\' AND "repo_inj_users"."age" = $3 AND "repo_inj_users"."deleted_at" IS NULL`
	if stmts[0] != want {
		t.Fatalf("got  %s\nwant %s", stmts[0], want)
	}
	for _, v := range []any{gorm.Expr("1=1"), d.db.Table("x")} {
		_, err := r.Find(ctx, repo.Where("name", repo.Eq, v))
		if !errors.Is(err, repo.ErrInvalidQuery) {
			t.Errorf("value %T: err = %v, want ErrInvalidQuery", v, err)
		}
		if err := r.UpdateFields(ctx, 1, map[string]any{"name": v}); !errors.Is(err, repo.ErrInvalidQuery) {
			t.Errorf("update value %T: err = %v, want ErrInvalidQuery", v, err)
		}
	}
	if calls, _ := d.take(); calls != 0 {
		t.Fatalf("%d calls reached the Runner", calls)
	}
}

// TestInjectionLeavesTableIntact runs the payloads on a real database.
func TestInjectionLeavesTableIntact(t *testing.T) {
	p := sqlitePool(t, pool.Config{})
	migrate(t, p, &injUser{})
	r := repo.New[injUser](p)
	ctx := context.Background()
	seed := []injUser{{Name: "a", Email: "a@x"}, {Name: "b", Email: "b@x"}, {Name: "c", Email: "c@x"}}
	if err := r.CreateBatch(ctx, seed, 0); err != nil {
		t.Fatal(err)
	}
	payloads := []string{"name; DROP TABLE repo_inj_users--", "id; DELETE FROM repo_inj_users", "1=1 OR 1=1",
		"name); DROP TABLE repo_inj_users; --", "'; DROP TABLE repo_inj_users; --"}
	for _, s := range payloads {
		for _, u := range fieldUses(ctx, r, s) {
			if err := u.run(); !errors.Is(err, repo.ErrUnknownField) {
				t.Errorf("%s %q: %v", u.name, s, err)
			}
		}
		// As values they are just strings that match nothing.
		if got, err := r.Find(ctx, repo.Where("name", repo.Eq, s)); err != nil || len(got) != 0 {
			t.Errorf("value %q: %v rows, %v", s, len(got), err)
		}
		if err := r.UpdateFields(ctx, seed[0].ID, map[string]any{"name": s}); err != nil {
			t.Errorf("update value %q: %v", s, err)
		}
	}
	n, err := r.Count(ctx, repo.All())
	if err != nil || n != 3 {
		t.Fatalf("after the payloads: %d rows, %v; want 3", n, err)
	}
	if got, _ := r.Get(ctx, seed[0].ID); got.Name != payloads[len(payloads)-1] {
		t.Fatalf("name stored as %q", got.Name)
	}
}
