package repo_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
	"gorm.io/gorm"
)

// A small Conduit: users follow users and favorite articles; articles
// have an author, tags and comments.
type rwUser struct {
	ID        int64
	Username  string `gorm:"not null;uniqueIndex"`
	Bio       string
	Articles  []rwArticle `gorm:"foreignKey:AuthorID"`
	Favorites []rwArticle `gorm:"many2many:repo_rw_favorites"`
	Following []rwUser    `gorm:"many2many:repo_rw_follows;joinForeignKey:FollowerID;joinReferences:FolloweeID"`
	Followers []rwUser    `gorm:"many2many:repo_rw_follows;joinForeignKey:FolloweeID;joinReferences:FollowerID"`
	DeletedAt gorm.DeletedAt
}

func (rwUser) TableName() string { return "repo_rw_users" }

type rwArticle struct {
	ID          int64
	Title       string
	Body        string
	AuthorID    int64
	Author      rwUser
	Tags        []rwTag     `gorm:"many2many:repo_rw_article_tags"`
	Comments    []rwComment `gorm:"foreignKey:ArticleID"`
	FavoritedBy []rwUser    `gorm:"many2many:repo_rw_favorites"`
	Stars       int
	CreatedAt   time.Time
}

func (rwArticle) TableName() string { return "repo_rw_articles" }

type rwTag struct {
	ID   int64
	Name string `gorm:"not null;uniqueIndex"`
}

func (rwTag) TableName() string { return "repo_rw_tags" }

type rwComment struct {
	ID        int64
	ArticleID int64
	AuthorID  int64
	Author    rwUser
	Body      string
	DeletedAt gorm.DeletedAt
}

func (rwComment) TableName() string { return "repo_rw_comments" }

// rwTables are every table of the fixture, join tables first.
var rwTables = []string{"repo_rw_favorites", "repo_rw_follows", "repo_rw_article_tags",
	"repo_rw_comments", "repo_rw_articles", "repo_rw_tags", "repo_rw_users"}

// conduit is the fixture: repositories and the rows created.
type conduit struct {
	p             *pool.Pool
	users         *repo.Repository[rwUser]
	articles      *repo.Repository[rwArticle]
	tags          *repo.Repository[rwTag]
	comments      *repo.Repository[rwComment]
	jake, ann, bo rwUser
	a1, a2, a3    rwArticle // jake's a1 (dragons, training), jake's a2 (dragons), ann's a3 (none)
	dragons, trn  rwTag
}

func newConduit(t *testing.T, open func(testing.TB, pool.Config) *pool.Pool) *conduit {
	t.Helper()
	p := open(t, pool.Config{})
	drop := func() {
		for _, name := range rwTables {
			if err := p.Gorm().Migrator().DropTable(name); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
		}
	}
	drop()
	migrate(t, p, &rwUser{}, &rwArticle{}, &rwTag{}, &rwComment{})
	t.Cleanup(drop)
	c := &conduit{p: p, users: repo.New[rwUser](p), articles: repo.New[rwArticle](p),
		tags: repo.New[rwTag](p), comments: repo.New[rwComment](p)}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	c.jake, c.ann, c.bo = rwUser{Username: "jake"}, rwUser{Username: "ann"}, rwUser{Username: "bo"}
	for _, u := range []*rwUser{&c.jake, &c.ann, &c.bo} {
		must(c.users.Create(ctx, u))
	}
	c.dragons, c.trn = rwTag{Name: "dragons"}, rwTag{Name: "training"}
	must(c.tags.Create(ctx, &c.dragons))
	must(c.tags.Create(ctx, &c.trn))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	c.a1 = rwArticle{Title: "How to train your dragon", AuthorID: c.jake.ID, Stars: 5, CreatedAt: base}
	c.a2 = rwArticle{Title: "Dragons 2", AuthorID: c.jake.ID, Stars: 3, CreatedAt: base.Add(time.Hour)}
	c.a3 = rwArticle{Title: "Ann's notes", AuthorID: c.ann.ID, Stars: 1, CreatedAt: base.Add(2 * time.Hour)}
	for _, a := range []*rwArticle{&c.a1, &c.a2, &c.a3} {
		must(c.articles.Create(ctx, a))
	}
	tagsOf := c.articles.Links("Tags")
	must(tagsOf.Add(ctx, c.a1.ID, c.dragons.ID, c.trn.ID))
	must(tagsOf.Add(ctx, c.a2.ID, c.dragons.ID))
	must(c.users.Links("Favorites").Add(ctx, c.ann.ID, c.a1.ID, c.a2.ID))
	must(c.users.Links("Favorites").Add(ctx, c.bo.ID, c.a1.ID))
	must(c.users.Links("Following").Add(ctx, c.ann.ID, c.jake.ID))
	for i, body := range []string{"first", "second", "third"} {
		cm := rwComment{ArticleID: c.a1.ID, AuthorID: []int64{c.ann.ID, c.bo.ID, c.ann.ID}[i], Body: body}
		must(c.comments.Create(ctx, &cm))
		if body == "second" {
			must(c.comments.Delete(ctx, cm.ID))
		}
	}
	return c
}

func titles(as []rwArticle) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Title)
	}
	return strings.Join(s, "|")
}

func TestRelations(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := newConduit(t, b.open)
			ctx := context.Background()
			byID := repo.All().OrderBy("id", repo.Asc)
			find := func(q repo.Query) string {
				t.Helper()
				got, err := c.articles.Find(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				return titles(got)
			}
			check := func(name, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			t1, t2, t3 := c.a1.Title, c.a2.Title, c.a3.Title

			// Filters through belongs-to, by JOIN; sorting by it.
			check("Author.Username", find(byID.Match(repo.Where("Author.Username", repo.Eq, "jake"))), t1+"|"+t2)
			check("order by path", find(repo.All().OrderBy("Author.Username", repo.Asc).OrderBy("id", repo.Desc)), t3+"|"+t2+"|"+t1)
			n, err := c.articles.Count(ctx, repo.Where("Author.Username", repo.Like, "j%"))
			if err != nil || n != 2 {
				t.Errorf("Count by path: %d, %v", n, err)
			}
			check("path in Or", find(byID.Match(repo.Or(repo.Where("Author.Username", repo.Eq, "ann"), repo.Where("stars", repo.Eq, 3)))), t2+"|"+t3)

			// EXISTS over many2many, has-many, and a path.
			check("Has Tags", find(byID.Match(repo.Has("Tags", repo.Where("name", repo.Eq, "dragons")))), t1+"|"+t2)
			check("Has Tags training", find(byID.Match(repo.Has("Tags", repo.Where("name", repo.Eq, "training")))), t1)
			check("Has FavoritedBy", find(byID.Match(repo.Has("FavoritedBy", repo.Where("username", repo.Eq, "bo")))), t1)
			check("Not Has Tags", find(byID.Match(repo.Not(repo.Has("Tags", repo.All())))), t3)
			check("feed", find(byID.Match(repo.Has("Author.Followers", repo.Where("id", repo.Eq, c.ann.ID)))), t1+"|"+t2)
			check("feed nested", find(byID.Match(repo.Has("Author", repo.Has("Followers", repo.Where("username", repo.Eq, "ann"))))), t1+"|"+t2)
			check("feed of bo", find(byID.Match(repo.Has("Author.Followers", repo.Where("id", repo.Eq, c.bo.ID)))), "")
			// A soft-deleted comment does not count: only "second" (deleted) is by bo.
			check("Has Comments by bo", find(byID.Match(repo.Has("Comments", repo.Where("author_id", repo.Eq, c.bo.ID)))), "")
			check("Has Comments", find(byID.Match(repo.Has("Comments", repo.All()))), t1)
			us, err := c.users.Find(ctx, repo.Has("Following", repo.Where("username", repo.Eq, "jake")))
			if err != nil || len(us) != 1 || us[0].Username != "ann" {
				t.Errorf("users following jake: %+v %v", us, err)
			}

			// Preload: belongs-to, many2many, nested, with a per-parent limit.
			got, err := c.articles.Find(ctx, byID.Preload("Author").Preload("Tags").Preload("Comments.Author"))
			if err != nil || len(got) != 3 {
				t.Fatalf("preload: %v %d", err, len(got))
			}
			if got[0].Author.Username != "jake" || got[2].Author.Username != "ann" || len(got[0].Tags) != 2 || len(got[1].Tags) != 1 || len(got[2].Tags) != 0 {
				t.Errorf("preloaded %+v", got)
			}
			if len(got[0].Comments) != 2 || got[0].Comments[0].Author.Username != "ann" {
				t.Errorf("preloaded comments (the soft-deleted one left out): %+v", got[0].Comments)
			}
			got, err = c.articles.Find(ctx, byID.PreloadWith("Comments", repo.All().OrderBy("body", repo.Desc).Limit(1)))
			if err != nil || len(got[0].Comments) != 1 || got[0].Comments[0].Body != "third" {
				t.Errorf("preload with limit: %+v %v", got, err)
			}
			got, err = c.articles.Find(ctx, byID.PreloadWith("Tags", repo.Where("name", repo.Eq, "training")))
			if err != nil || len(got[0].Tags) != 1 || got[0].Tags[0].Name != "training" || len(got[1].Tags) != 0 {
				t.Errorf("preload with filter: %+v %v", got, err)
			}
			u, err := c.users.First(ctx, repo.Where("username", repo.Eq, "jake").PreloadWith("Articles", repo.All().OrderBy("id", repo.Asc).Preload("Tags")))
			if err != nil || len(u.Articles) != 2 || len(u.Articles[0].Tags) != 2 {
				t.Errorf("nested preload through PreloadWith: %+v %v", u, err)
			}
			pg, err := c.articles.Page(ctx, repo.Where("Author.Username", repo.Eq, "jake").Preload("Author").Limit(1), "")
			if err != nil || len(pg.Items) != 1 || pg.Items[0].Author.Username != "jake" || !pg.HasMore {
				t.Fatalf("page with a path filter and preload: %+v %v", pg, err)
			}
			pg, err = c.articles.Page(ctx, repo.Where("Author.Username", repo.Eq, "jake").Preload("Author").Limit(1), pg.Next)
			if err != nil || len(pg.Items) != 1 || pg.Items[0].ID != c.a2.ID || pg.HasMore {
				t.Fatalf("second page: %+v %v", pg, err)
			}
			if _, err := c.articles.Page(ctx, repo.All().OrderBy("Author.Username", repo.Asc), ""); !errors.Is(err, repo.ErrInvalidQuery) {
				t.Errorf("Page sorted by a path: %v", err)
			}
			// Misuse is refused before SQL.
			for name, q := range map[string]repo.Query{
				"has-many in a field path": repo.Where("Comments.Body", repo.Eq, "x"),
				"path inside Has":          repo.Has("Comments", repo.Where("Author.Username", repo.Eq, "x")),
				"limit on many2many":       repo.All().PreloadWith("Tags", repo.All().Limit(1)),
				"order inside Or":          repo.Or(repo.All().OrderBy("id", repo.Asc)),
				"limit inside Has":         repo.Has("Tags", repo.All().Limit(1)),
			} {
				if _, err := c.articles.Find(ctx, q); !errors.Is(err, repo.ErrInvalidQuery) {
					t.Errorf("%s: %v, want ErrInvalidQuery", name, err)
				}
			}
		})
	}
}

func TestLinks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := newConduit(t, b.open)
			ctx := context.Background()
			fav := c.users.Links("Favorites")
			favBy := c.articles.Links("FavoritedBy")
			if fav.Err() != nil || fav.Table() != "repo_rw_favorites" {
				t.Fatalf("Links: %v %q", fav.Err(), fav.Table())
			}
			count := func(l *repo.Links, owner int64, want int64) {
				t.Helper()
				if n, err := l.Count(ctx, owner); err != nil || n != want {
					t.Errorf("Count(%d) = %d, %v; want %d", owner, n, err, want)
				}
			}
			count(fav, c.ann.ID, 2)
			count(favBy, c.a1.ID, 2)
			// Add is idempotent, and converts integer keys.
			if err := fav.Add(ctx, int32(c.ann.ID), c.a1.ID, c.a3.ID, int(c.a3.ID)); err != nil {
				t.Fatal(err)
			}
			count(fav, c.ann.ID, 3)
			counts, err := favBy.Counts(ctx, c.a3.ID, c.a1.ID, c.a2.ID, int64(999))
			if err != nil || !slices.Equal(counts, []int64{1, 2, 1, 0}) {
				t.Errorf("Counts: %v %v", counts, err)
			}
			linked, err := fav.Linked(ctx, c.bo.ID, c.a1.ID, c.a2.ID, c.a1.ID)
			if err != nil || !slices.Equal(linked, []bool{true, false, true}) {
				t.Errorf("Linked: %v %v", linked, err)
			}
			if err := fav.Remove(ctx, c.ann.ID, c.a1.ID, int64(999)); err != nil {
				t.Fatal(err)
			}
			count(fav, c.ann.ID, 2)
			if err := fav.Replace(ctx, c.ann.ID, c.a1.ID, c.a3.ID); err != nil {
				t.Fatal(err)
			}
			if linked, _ := fav.Linked(ctx, c.ann.ID, c.a1.ID, c.a2.ID, c.a3.ID); !slices.Equal(linked, []bool{true, false, true}) {
				t.Errorf("after Replace: %v", linked)
			}
			if err := fav.Replace(ctx, c.ann.ID); err != nil {
				t.Fatal(err)
			}
			count(fav, c.ann.ID, 0)
			count(fav, c.bo.ID, 1) // others' links untouched
			// Self-referencing many2many with named join columns.
			fol := c.users.Links("Following")
			if err := fol.Add(ctx, c.bo.ID, c.jake.ID, c.ann.ID); err != nil {
				t.Fatal(err)
			}
			if cs, err := c.users.Links("Followers").Counts(ctx, c.jake.ID, c.ann.ID, c.bo.ID); err != nil || !slices.Equal(cs, []int64{2, 1, 0}) {
				t.Errorf("followers: %v %v", cs, err)
			}
			// Misuse.
			for name, l := range map[string]*repo.Links{"has-many": c.users.Links("Articles"), "unknown": c.users.Links("Nope"), "belongs-to": c.articles.Links("Author")} {
				if err := l.Add(ctx, 1, 2); !errors.Is(err, repo.ErrUnknownField) || !errors.Is(l.Err(), repo.ErrUnknownField) {
					t.Errorf("%s: %v", name, err)
				}
			}
			if err := fav.Add(ctx, "1 OR 1=1", c.a1.ID); !errors.Is(err, repo.ErrInvalidQuery) {
				t.Errorf("string key: %v", err)
			}
			if err := fav.Add(ctx, c.ann.ID, "1); DELETE FROM repo_rw_favorites; --"); !errors.Is(err, repo.ErrInvalidQuery) {
				t.Errorf("string target: %v", err)
			}
		})
	}
}

// TestUpdateWritesNoRelation: Update leaves belongs-to, many2many and
// has-many associations in v alone, on both databases.
func TestUpdateWritesNoRelation(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := newConduit(t, b.open)
			ctx := context.Background()
			before := snapshot(t, c.p)
			a := c.a3
			a.Author = rwUser{ID: c.ann.ID, Username: "renamed"}
			a.Tags = []rwTag{{Name: "new-tag"}, c.dragons}
			a.Comments = []rwComment{{Body: "new", AuthorID: c.bo.ID}}
			a.FavoritedBy = []rwUser{c.jake}
			if err := c.articles.Update(ctx, &a); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, c.p); after != before {
				t.Fatalf("Update wrote associations:\n%s\n%s", before, after)
			}
			a.Title = "changed"
			if err := c.articles.Update(ctx, &a); err != nil {
				t.Fatal(err)
			}
			if got, _ := c.articles.Get(ctx, a.ID); got.Title != "changed" {
				t.Fatalf("title %q", got.Title)
			}
		})
	}
}

func TestEachAndExistsWithRelations(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := newConduit(t, b.open)
			ctx := context.Background()
			ok, err := c.articles.Exists(ctx, repo.Has("FavoritedBy", repo.Where("username", repo.Eq, "bo")).And("Author.Username", repo.Eq, "jake"))
			if err != nil || !ok {
				t.Fatalf("Exists: %v %v", ok, err)
			}
			ok, err = c.articles.Exists(ctx, repo.Has("FavoritedBy", repo.Where("username", repo.Eq, "bo")).And("Author.Username", repo.Eq, "ann"))
			if err != nil || ok {
				t.Fatalf("Exists (none): %v %v", ok, err)
			}
			var seen []string
			err = c.articles.Each(ctx, repo.Has("Tags", repo.All()).Preload("Author").Limit(10), 1, func(batch []rwArticle) error {
				for _, a := range batch {
					seen = append(seen, a.Title+"/"+a.Author.Username)
				}
				return nil
			})
			if want := []string{c.a1.Title + "/jake", c.a2.Title + "/jake"}; err != nil || !slices.Equal(seen, want) {
				t.Fatalf("Each: %q %v, want %q", seen, err, want)
			}
		})
	}
}
