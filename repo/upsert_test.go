package repo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

type upItem struct {
	ID    int64
	Email string `gorm:"not null;uniqueIndex"`
	Name  string
	Ro    string `gorm:"<-:create"`
}

func (upItem) TableName() string { return "repo_up_items" }

var backends = []struct {
	name string
	open func(testing.TB, pool.Config) *pool.Pool
}{{"sqlite", sqlitePool}, {"postgres", pgPool}}

// TestUpsertDoNothingKeys: in DO NOTHING mode the database returns rows
// only for the inserted items; no item may receive another row's key.
func TestUpsertDoNothingKeys(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &upItem{})
			r := repo.New[upItem](p)
			ctx := context.Background()
			a := upItem{Email: "a@x", Name: "a"}
			if err := r.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			items := []upItem{{Email: "a@x", Name: "dup"}, {Email: "b@x", Name: "b"}, {Email: "c@x", Name: "c"}}
			if err := r.Upsert(ctx, items, []string{"email"}, "email"); err != nil {
				t.Fatal(err)
			}
			rows, err := r.Find(ctx, repo.All().OrderBy("email", repo.Asc))
			if err != nil || len(rows) != 3 {
				t.Fatalf("Find: %v, %+v", err, rows)
			}
			if rows[0].ID != a.ID || rows[0].Name != "a" || rows[1].Email != "b@x" || rows[2].Email != "c@x" {
				t.Fatalf("rows after DO NOTHING: %+v", rows)
			}
			for i, it := range items {
				for _, row := range rows {
					if it.ID == row.ID && it.Email != row.Email {
						t.Errorf("items[%d] (%s) carries the key %d of %s", i, it.Email, it.ID, row.Email)
					}
				}
				if it.ID != 0 {
					t.Errorf("items[%d] (%s) got key %d; DO NOTHING fills in no key", i, it.Email, it.ID)
				}
			}
		})
	}
}

// wrItem has a create-only field and an update time: GORM drops a
// create-only field from an UPDATE and still sets updated_at.
type wrItem struct {
	ID        int64
	Email     string `gorm:"not null;uniqueIndex"`
	Name      string
	Ro        string `gorm:"<-:create"`
	UpdatedAt time.Time
}

func (wrItem) TableName() string { return "repo_wr_items" }

// wrView adds a read-only field, for statements that are never sent.
type wrView struct {
	ID    int64
	Email string `gorm:"uniqueIndex"`
	Name  string
	Ro    string `gorm:"<-:create"`
	View  string `gorm:"->"`
}

// TestUpdateRefusesNonUpdatable: UpdateFields keys and Upsert update
// columns that GORM would not write (create-only, read-only) or that
// would re-key the row (the primary key) are ErrInvalidQuery, and nothing
// is sent; a key named as a conflict column too still means DO NOTHING.
func TestUpdateRefusesNonUpdatable(t *testing.T) {
	d := newDryRunner(t)
	r := repo.New[wrView](d)
	ctx := context.Background()
	items := []wrView{{Email: "a@x", Name: "a"}}
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"update create-only by column", func() error { return r.UpdateFields(ctx, 1, map[string]any{"ro": "x"}) }, repo.ErrInvalidQuery},
		{"update create-only by Go name", func() error { return r.UpdateFields(ctx, 1, map[string]any{"Name": "n", "Ro": "x"}) }, repo.ErrInvalidQuery},
		{"update read-only", func() error { return r.UpdateFields(ctx, 1, map[string]any{"view": "x"}) }, repo.ErrInvalidQuery},
		{"update key", func() error { return r.UpdateFields(ctx, 1, map[string]any{"ID": 2}) }, repo.ErrInvalidQuery},
		{"update unknown", func() error { return r.UpdateFields(ctx, 1, map[string]any{"nope": 2}) }, repo.ErrUnknownField},
		{"upsert create-only", func() error { return r.Upsert(ctx, items, []string{"email"}, "name", "ro") }, repo.ErrInvalidQuery},
		{"upsert read-only", func() error { return r.Upsert(ctx, items, []string{"email"}, "View") }, repo.ErrInvalidQuery},
		{"upsert key", func() error { return r.Upsert(ctx, items, []string{"email"}, "id") }, repo.ErrInvalidQuery},
	} {
		d.take()
		err := tc.run()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if calls, stmts := d.take(); calls != 0 {
			t.Errorf("%s: %d calls reached the Runner: %q", tc.name, calls, stmts)
		}
	}
	for name, run := range map[string]func() error{
		"upsert key as conflict column": func() error { return r.Upsert(ctx, items, []string{"id"}, "id") },
		"upsert updatable column":       func() error { return r.Upsert(ctx, items, []string{"email"}, "name") },
	} {
		if err := run(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCreateOnlyFieldIsNotSilentlyDropped runs the refusals on a real
// database: the row keeps its create-only value and its key.
func TestCreateOnlyFieldIsNotSilentlyDropped(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &wrItem{})
			r := repo.New[wrItem](p)
			ctx := context.Background()
			a := wrItem{Email: "a@x", Name: "a", Ro: "orig"}
			if err := r.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			if err := r.UpdateFields(ctx, a.ID, map[string]any{"ro": "changed"}); !errors.Is(err, repo.ErrInvalidQuery) {
				t.Errorf("UpdateFields of a create-only field: %v, want ErrInvalidQuery", err)
			}
			dup := []wrItem{{ID: a.ID + 100, Email: "a@x", Name: "b", Ro: "changed"}}
			for _, col := range []string{"ro", "id"} {
				if err := r.Upsert(ctx, dup, []string{"email"}, col); !errors.Is(err, repo.ErrInvalidQuery) {
					t.Errorf("Upsert updating %s: %v, want ErrInvalidQuery", col, err)
				}
			}
			if err := r.UpdateFields(ctx, a.ID, map[string]any{"name": "a2"}); err != nil {
				t.Fatal(err)
			}
			got, err := r.Get(ctx, a.ID)
			if err != nil || got.Ro != "orig" || got.Name != "a2" {
				t.Fatalf("row after the refused updates: %+v, %v", got, err)
			}
			if n, _ := r.Count(ctx, repo.All()); n != 1 {
				t.Fatalf("%d rows, want 1", n)
			}
		})
	}
}
