package repo_test

import (
	"cmp"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

type flItem struct {
	ID    int64
	Score float64  `gorm:"not null"`
	Opt   *float64 // nullable
}

func (flItem) TableName() string { return "repo_fl_items" }

// pgFloatCmp orders floats as PostgreSQL does: NaN above every number,
// NaN equal to NaN.
func pgFloatCmp(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

// TestPageNonFiniteFloats: pages may end on NaN, +Inf or -Inf (which
// PostgreSQL float8 holds and JSON cannot): the cursor carries them and
// the walk sees every row once, in PostgreSQL's order, directly and
// through the transaction pooler.
func TestPageNonFiniteFloats(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(testing.TB) *pool.Pool
	}{
		{"postgres", func(t testing.TB) *pool.Pool { return pgPool(t, pool.Config{}) }},
		{"pgbouncer tx", func(t testing.TB) *pool.Pool {
			return open(t, pool.Config{DatabaseURL: testdb.PgBouncerTx(t) + "&pgbouncer=true", MaxOpenConns: 2, MaxConcurrent: 2})
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t)
			migrate(t, p, &flItem{})
			r := repo.New[flItem](p)
			ctx := context.Background()
			nan, inf := math.NaN(), math.Inf(1)
			vals := []float64{1, nan, -inf, inf, 2, nan, inf, -inf, 0, -1.5}
			items := make([]flItem, len(vals))
			for i, v := range vals {
				o := v
				items[i] = flItem{Score: v, Opt: &o}
			}
			items[0].Opt, items[4].Opt = nil, nil
			if err := r.CreateBatch(ctx, items, 0); err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{"score", "opt"} {
				for _, dir := range []repo.Direction{repo.Asc, repo.Desc} {
					for _, size := range []int{1, 2, 3} {
						var got []flItem
						cursor := ""
						for pages := 0; ; pages++ {
							if pages > len(vals) {
								t.Fatalf("%s %s: page walk does not end", field, dir)
							}
							pg, err := r.Page(ctx, repo.All().OrderBy(field, dir).Limit(size), cursor)
							if err != nil {
								t.Fatalf("%s %s size %d: %v", field, dir, size, err)
							}
							got = append(got, pg.Items...)
							if !pg.HasMore {
								break
							}
							cursor = pg.Next
						}
						checkFloatWalk(t, field, dir, size, got, len(vals))
					}
				}
			}

			// Only the three spellings are taken for a float.
			q := repo.All().OrderBy("score", repo.Asc).Limit(2)
			first, err := r.Page(ctx, q, "")
			if err != nil || first.Next == "" {
				t.Fatalf("first page: %v", err)
			}
			h := hashOf(t, r, first.Next)
			for v, ok := range map[string]bool{`"NaN"`: true, `"-Infinity"`: true, `"Inf"`: false, `"nan"`: false, `"1"`: false} {
				_, err := r.Page(ctx, q, cursorOf(`{"f":"score","d":"asc","h":"`+h+`","v":`+v+`,"k":1}`))
				if ok != (err == nil) || (!ok && !errors.Is(err, repo.ErrInvalidCursor)) {
					t.Errorf("cursor with score %s: %v", v, err)
				}
			}
		})
	}
}

func checkFloatWalk(t *testing.T, field string, dir repo.Direction, size int, got []flItem, total int) {
	t.Helper()
	// key orders a row as PostgreSQL does; a NULL opt sorts last
	// ascending (first descending), as Page documents.
	order := func(a, b flItem) int {
		c := 0
		switch {
		case field == "score":
			c = pgFloatCmp(a.Score, b.Score)
		case a.Opt == nil && b.Opt == nil:
		case a.Opt == nil:
			c = 1
		case b.Opt == nil:
			c = -1
		default:
			c = pgFloatCmp(*a.Opt, *b.Opt)
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if dir == repo.Desc {
			c = -c
		}
		return c
	}
	seen := map[int64]bool{}
	for i, it := range got {
		if seen[it.ID] {
			t.Errorf("%s %s size %d: row %d seen twice", field, dir, size, it.ID)
		}
		seen[it.ID] = true
		if i > 0 && order(got[i-1], it) >= 0 {
			t.Errorf("%s %s size %d: %+v before %+v", field, dir, size, got[i-1], it)
		}
	}
	if len(seen) != total {
		t.Errorf("%s %s size %d: %d of %d rows", field, dir, size, len(seen), total)
	}
}
