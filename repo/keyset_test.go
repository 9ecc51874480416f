package repo_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

type ksItem struct {
	ID    int64
	Score int `gorm:"index"`
	Tag   string
}

func (ksItem) TableName() string { return "repo_ks_items" }

// TestKeysetUnderInserts walks 10 000 rows by a sort field with many
// ties while another goroutine keeps inserting rows with any score: every
// original row is seen exactly once.
func TestKeysetUnderInserts(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(testing.TB, pool.Config) *pool.Pool
	}{{"sqlite", sqlitePool}, {"postgres", pgPool}} {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &ksItem{})
			r := repo.New[ksItem](p)
			ctx := context.Background()
			const n = 10000
			orig := make([]ksItem, n)
			for i := range orig {
				orig[i] = ksItem{Score: i % 97, Tag: "orig"}
			}
			if err := r.CreateBatch(ctx, orig, 1000); err != nil {
				t.Fatal(err)
			}

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var inserted int
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := r.Create(ctx, &ksItem{Score: (i * 31) % 97, Tag: "new"}); err != nil {
						t.Error(err)
						return
					}
					inserted++
				}
			})

			seen := make(map[int64]int, n)
			cursor := ""
			q := repo.All().OrderBy("score", repo.Asc).Limit(250)
			for pages := 0; ; pages++ {
				pg, err := r.Page(ctx, q, cursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range pg.Items {
					if it.Tag == "orig" {
						seen[it.ID]++
					}
				}
				if !pg.HasMore {
					break
				}
				cursor = pg.Next
			}
			close(stop)
			wg.Wait()
			for _, it := range orig {
				if seen[it.ID] != 1 {
					t.Fatalf("row %d seen %d times", it.ID, seen[it.ID])
				}
			}
			if len(seen) != n {
				t.Fatalf("%d original rows seen, want %d", len(seen), n)
			}
			t.Logf("%d rows inserted during the walk", inserted)
		})
	}
}
