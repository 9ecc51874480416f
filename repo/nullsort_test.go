package repo_test

import (
	"cmp"
	"context"
	"errors"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// nsItem has plain-typed fields over nullable columns: GORM reads a NULL
// nick as "" and a NULL rank as 0.
type nsItem struct {
	ID   int64
	Nick string
	Rank int
}

func (nsItem) TableName() string { return "repo_ns_items" }

// nsBlob sorts by a plain []byte over a nullable column: no zero value
// to agree on, so Page refuses it.
type nsBlob struct {
	ID   int64
	Data []byte
}

func (nsBlob) TableName() string { return "repo_ns_blobs" }

// TestPageNullInPlainField: Page and Each by a plain string or int field
// whose column holds NULLs see every row exactly once, in both
// directions, in the order of the values Go sees.
func TestPageNullInPlainField(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(testing.TB, pool.Config) *pool.Pool
	}{{"sqlite", sqlitePool}, {"postgres", pgPool}} {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &nsItem{})
			// NULLs among values, "" and 0 among them too, ties on both.
			if err := p.Gorm().Exec(`INSERT INTO repo_ns_items (nick, rank) VALUES
				('b', 2), (NULL, NULL), ('a', NULL), (NULL, 1), ('', 0), ('c', 3),
				(NULL, 2), ('a', NULL), (NULL, NULL), ('', 5), ('d', 0)`).Error; err != nil {
				t.Fatal(err)
			}
			const total = 11
			r := repo.New[nsItem](p)
			ctx := context.Background()
			for _, field := range []string{"nick", "Rank"} {
				for _, dir := range []repo.Direction{repo.Asc, repo.Desc} {
					q := repo.All().OrderBy(field, dir)
					var paged []nsItem
					cursor := ""
					for pages := 0; ; pages++ {
						if pages > total {
							t.Fatalf("%s %s: page walk does not end", field, dir)
						}
						pg, err := r.Page(ctx, q.Limit(2), cursor)
						if err != nil {
							t.Fatal(err)
						}
						paged = append(paged, pg.Items...)
						if !pg.HasMore {
							break
						}
						cursor = pg.Next
					}
					var each []nsItem
					if err := r.Each(ctx, q, 3, func(b []nsItem) error { each = append(each, b...); return nil }); err != nil {
						t.Fatal(err)
					}
					for name, got := range map[string][]nsItem{"Page": paged, "Each": each} {
						checkWalk(t, field+" "+dir.String()+" "+name, got, total, field, dir)
					}
				}
			}
		})
	}
}

// checkWalk asserts that got holds total distinct rows, ordered by the
// Go value of field, then by key, in direction dir.
func checkWalk(t *testing.T, what string, got []nsItem, total int, field string, dir repo.Direction) {
	t.Helper()
	seen := map[int64]bool{}
	for i, it := range got {
		if seen[it.ID] {
			t.Errorf("%s: row %d seen twice", what, it.ID)
		}
		seen[it.ID] = true
		if i == 0 {
			continue
		}
		prev := got[i-1]
		c := cmp.Compare(prev.Rank, it.Rank)
		if field == "nick" {
			c = cmp.Compare(prev.Nick, it.Nick)
		}
		if c == 0 {
			c = cmp.Compare(prev.ID, it.ID)
		}
		if dir == repo.Desc {
			c = -c
		}
		if c >= 0 {
			t.Errorf("%s: %+v before %+v", what, prev, it)
		}
	}
	if len(seen) != total {
		t.Errorf("%s: %d of %d rows", what, len(seen), total)
	}
}

// A plain field of a type with no agreed zero value, over a nullable
// column, is refused before anything is sent.
func TestPageRefusesPlainSliceSortField(t *testing.T) {
	d := newDryRunner(t)
	r := repo.New[nsBlob](d)
	d.take()
	_, err := r.Page(context.Background(), repo.All().OrderBy("data", repo.Asc), "")
	if !errors.Is(err, repo.ErrInvalidQuery) {
		t.Fatalf("Page by a nullable []byte field: %v, want ErrInvalidQuery", err)
	}
	if calls, _ := d.take(); calls != 0 {
		t.Fatalf("%d calls reached the Runner", calls)
	}
}
