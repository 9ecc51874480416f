package repo_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/repo"
)

func TestOrNotBetween(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := newConduit(t, b.open)
			ctx := context.Background()
			byID := repo.All().OrderBy("id", repo.Asc)
			t1, t2, t3 := c.a1.Title, c.a2.Title, c.a3.Title
			for _, tc := range []struct {
				name string
				q    repo.Query
				want string
			}{
				{"or", repo.Or(repo.Where("stars", repo.Eq, 5), repo.Where("stars", repo.Eq, 1)), t1 + "|" + t3},
				{"or of ands", repo.Or(repo.Where("stars", repo.Ge, 3).And("title", repo.Like, "Dragons%"), repo.Where("stars", repo.Lt, 2)), t2 + "|" + t3},
				{"or with an empty group matches all", repo.Or(repo.Where("stars", repo.Eq, 5), repo.All()), t1 + "|" + t2 + "|" + t3},
				{"empty or matches none", repo.Or(), ""},
				{"not", repo.Not(repo.Where("stars", repo.Eq, 3)), t1 + "|" + t3},
				{"not of and", repo.Not(repo.Where("stars", repo.Ge, 3).And("author_id", repo.Eq, c.jake.ID)), t3},
				{"not of all", repo.Not(repo.All()), ""},
				{"and + or group", repo.Where("author_id", repo.Eq, c.jake.ID).Match(repo.Or(repo.Where("stars", repo.Eq, 1), repo.Where("stars", repo.Eq, 3))), t2},
				{"between ints", repo.Where("stars", repo.Between, []int{2, 5}), t1 + "|" + t2},
				{"between times", repo.Where("created_at", repo.Between, [2]time.Time{c.a1.CreatedAt.Add(time.Minute), c.a3.CreatedAt}), t2 + "|" + t3},
				{"between inclusive", repo.Where("stars", repo.Between, []any{1, 3}), t2 + "|" + t3},
			} {
				got, err := c.articles.Find(ctx, byID.Match(tc.q))
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
					continue
				}
				if s := titles(got); s != tc.want {
					t.Errorf("%s: %q, want %q", tc.name, s, tc.want)
				}
				// Count agrees with Find.
				if n, err := c.articles.Count(ctx, tc.q); err != nil || int(n) != len(got) {
					t.Errorf("%s: Count %d, %v; Find %d", tc.name, n, err, len(got))
				}
			}
			for name, v := range map[string]any{"one value": []int{1}, "three": []int{1, 2, 3}, "scalar": 3, "nil bound": []any{nil, 3}, "string": "1,3"} {
				if _, err := c.articles.Find(ctx, repo.Where("stars", repo.Between, v)); !errors.Is(err, repo.ErrInvalidQuery) {
					t.Errorf("Between %s: %v", name, err)
				}
			}
		})
	}
}

type rwCard struct {
	ID    int64
	Title string
	Score int `gorm:"column:stars"`
}

type rwBadCard struct {
	ID    int64
	Cover string
}

func TestProjectionsAndCountBy(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := newConduit(t, b.open)
			ctx := context.Background()
			got, err := c.articles.Find(ctx, repo.All().Select("title").OrderBy("id", repo.Asc))
			if err != nil || len(got) != 3 || got[0].Title != c.a1.Title || got[0].ID != c.a1.ID || got[0].Stars != 0 || got[0].AuthorID != 0 {
				t.Fatalf("Select: %+v %v", got, err)
			}
			got, err = c.articles.Find(ctx, repo.All().Select("Title").Preload("Author").OrderBy("id", repo.Asc))
			if err != nil || got[0].Author.Username != "jake" || got[0].Body != "" {
				t.Fatalf("Select with a belongs-to preload: %+v %v", got, err)
			}
			pg, err := c.articles.Page(ctx, repo.All().Select("title").OrderBy("stars", repo.Desc).Limit(2), "")
			if err == nil {
				pg, err = c.articles.Page(ctx, repo.All().Select("title").OrderBy("stars", repo.Desc).Limit(2), pg.Next)
			}
			if err != nil || len(pg.Items) != 1 || pg.Items[0].Title != c.a3.Title {
				t.Fatalf("Page with Select: %+v %v", pg, err)
			}
			cards, err := repo.FindAs[rwCard](ctx, c.articles, repo.Where("Author.Username", repo.Eq, "jake").OrderBy("stars", repo.Asc))
			if err != nil || len(cards) != 2 || cards[0] != (rwCard{c.a2.ID, c.a2.Title, 3}) || cards[1] != (rwCard{c.a1.ID, c.a1.Title, 5}) {
				t.Fatalf("FindAs: %+v %v", cards, err)
			}
			if _, err := repo.FindAs[rwBadCard](ctx, c.articles, repo.All()); !errors.Is(err, repo.ErrUnknownField) {
				t.Errorf("FindAs with a field that is no column: %v", err)
			}
			if _, err := c.articles.Find(ctx, repo.All().Select("title", "nope")); !errors.Is(err, repo.ErrUnknownField) {
				t.Errorf("Select unknown: %v", err)
			}

			byAuthor, err := repo.CountBy[int64](ctx, c.articles, "author_id", repo.All())
			if err != nil || !maps.Equal(byAuthor, map[int64]int64{c.jake.ID: 2, c.ann.ID: 1}) {
				t.Errorf("CountBy author_id: %v %v", byAuthor, err)
			}
			byName, err := repo.CountBy[string](ctx, c.articles, "Author.Username", repo.Where("stars", repo.Gt, 1))
			if err != nil || !maps.Equal(byName, map[string]int64{"jake": 2}) {
				t.Errorf("CountBy path: %v %v", byName, err)
			}
			perArticle, err := repo.CountBy[int64](ctx, c.comments, "ArticleID", repo.Where("article_id", repo.In, []int64{c.a1.ID, c.a2.ID}))
			if err != nil || !maps.Equal(perArticle, map[int64]int64{c.a1.ID: 2}) { // the soft-deleted one not counted
				t.Errorf("CountBy comments: %v %v", perArticle, err)
			}
			// A NULL group scans into a sql.Null key.
			if err := c.users.UpdateFields(ctx, c.bo.ID, map[string]any{"bio": "x"}); err != nil {
				t.Fatal(err)
			}
			bios, err := repo.CountBy[sql.NullString](ctx, c.users, "bio", repo.All())
			if err != nil || bios[sql.NullString{String: "x", Valid: true}] != 1 || bios[sql.NullString{String: "", Valid: true}] != 2 {
				t.Errorf("CountBy bio: %v %v", bios, err)
			}
			if _, err := repo.CountBy[int64](ctx, c.articles, "Tags.Name", repo.All()); !errors.Is(err, repo.ErrInvalidQuery) {
				t.Errorf("CountBy through many2many: %v", err)
			}
		})
	}
}
