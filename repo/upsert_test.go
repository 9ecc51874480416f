package repo_test

import (
	"context"
	"testing"

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
