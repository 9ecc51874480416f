package repo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// hostileNames is the hostile list of TestFieldNameInjection, without its
// valid names.
var hostileNames = []string{
	"name; DROP TABLE users--", "name; drop table repo_inj_users;", `"name"`, "`name`", "name--",
	"name/*", " name", "name ", "NAME", "users.name", "repo_inj_users.name", "CASE WHEN EXISTS(SELECT 1) THEN id ELSE name END",
	"1=1 OR 1=1", "name DESC, (SELECT pg_sleep(10))", "id) OR (1=1", "Secret", "secret", "", "*", "?", "$1",
	"name\x00", "nаme", // Cyrillic a
	// and some aimed at relations and paths
	"Author; DROP TABLE repo_rw_users--", "Author.", ".Author", "Author..Username", "author", "AUTHOR", "repo_rw_users",
	"Author.username; --", "Tags.name) OR (1=1", "Author.Username.", "Comments.Author.Username OR 1=1", "r1", "j1",
	"Author__Username", "repo_rw_articles.title", `Author"."username`,
}

// identUse is a call that takes an identifier, and the identifier it
// passes (what the error must name).
type identUse struct {
	name, ident string
	run         func() error
}

// identUses are the calls of every helper that takes an association
// name, a path, a projection field or a group field, with s in that place.
func identUses(ctx context.Context, a *repo.Repository[rwArticle], u *repo.Repository[rwUser], s string) []identUse {
	find := func(q repo.Query) func() error {
		return func() error { _, err := a.Find(ctx, q); return err }
	}
	return []identUse{
		{"path head", s + ".Username", find(repo.Where(s+".Username", repo.Eq, "x"))},
		{"path tail", "Author." + s, find(repo.Where("Author."+s, repo.Eq, "x"))},
		{"path in Or", "Author." + s, find(repo.Or(repo.Where("id", repo.Eq, 1), repo.Where("Author."+s, repo.Eq, "x")))},
		{"path in Not", "Author." + s, find(repo.Not(repo.Where("Author."+s, repo.Eq, "x")))},
		{"path order", "Author." + s, find(repo.All().OrderBy("Author."+s, repo.Asc))},
		{"Has", s, find(repo.Has(s, repo.All()))},
		{"Has path", "Author." + s, find(repo.Has("Author."+s, repo.All()))},
		{"Has field", s, find(repo.Has("Tags", repo.Where(s, repo.Eq, "x")))},
		{"Preload", s, find(repo.All().Preload(s))},
		{"Preload path", "Comments." + s, find(repo.All().Preload("Comments." + s))},
		{"PreloadWith", s, find(repo.All().PreloadWith(s, repo.All()))},
		{"PreloadWith field", s, find(repo.All().PreloadWith("Comments", repo.Where(s, repo.Eq, 1)))},
		{"PreloadWith order", s, find(repo.All().PreloadWith("Comments", repo.All().OrderBy(s, repo.Desc)))},
		{"Select", s, find(repo.All().Select("title", s))},
		{"Page path", "Author." + s, func() error { _, err := a.Page(ctx, repo.Where("Author."+s, repo.Eq, 1), ""); return err }},
		{"CountBy", s, func() error { _, err := repo.CountBy[string](ctx, a, s, repo.All()); return err }},
		{"CountBy path", "Author." + s, func() error { _, err := repo.CountBy[string](ctx, a, "Author."+s, repo.All()); return err }},
		{"Count path", "Author." + s, func() error { _, err := a.Count(ctx, repo.Where("Author."+s, repo.Eq, 1)); return err }},
		{"Links", s, func() error { return u.Links(s).Add(ctx, 1, 2) }},
		{"Links Counts", s, func() error { _, err := a.Links(s).Counts(ctx, 1); return err }},
		{"Links Linked", s, func() error { _, err := u.Links(s).Linked(ctx, 1, 2); return err }},
	}
}

func TestIdentifierInjection(t *testing.T) {
	d := newDryRunner(t)
	a, u := repo.New[rwArticle](d), repo.New[rwUser](d)
	ctx := context.Background()
	for _, s := range hostileNames {
		for _, use := range identUses(ctx, a, u, s) {
			d.take()
			err := use.run()
			if !errors.Is(err, repo.ErrUnknownField) {
				t.Errorf("%s %q: %v, want ErrUnknownField", use.name, use.ident, err)
				continue
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", use.ident)) {
				t.Errorf("%s %q: error %q does not name it", use.name, use.ident, err)
			}
			if calls, stmts := d.take(); calls != 0 {
				t.Errorf("%s %q: reached the Runner: %q", use.name, use.ident, stmts)
			}
		}
	}
	// The valid names of each use are accepted and quoted.
	for _, tc := range []struct {
		name   string
		q      repo.Query
		quoted string
	}{
		{"path", repo.Where("Author.Username", repo.Eq, "x"), `"Author"."username"`},
		{"Has", repo.Has("Tags", repo.Where("Name", repo.Eq, "x")), `"r1"."name"`},
		{"Select", repo.All().Select("Title"), `"repo_rw_articles"."title"`},
		{"Has path", repo.Has("Author.Followers", repo.Where("username", repo.Eq, "x")), `"r2"."username"`},
		{"Or", repo.Or(repo.Where("stars", repo.Eq, 1), repo.Where("Author.Bio", repo.Eq, "x")), `"Author"."bio"`},
	} {
		d.take()
		if _, err := a.Find(ctx, tc.q); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, stmts := d.take(); !strings.Contains(strings.Join(stmts, "\n"), tc.quoted) {
			t.Errorf("%s: %q does not use %s", tc.name, stmts, tc.quoted)
		}
	}
}

func FuzzPaths(f *testing.F) {
	for _, s := range []string{"Author", "Username", "Author.Username", "Tags", "id) OR (1=1", ""} {
		f.Add(s)
	}
	d := newDryRunner(f)
	a, u := repo.New[rwArticle](d), repo.New[rwUser](d)
	f.Fuzz(func(t *testing.T, s string) {
		for _, use := range identUses(context.Background(), a, u, s) {
			d.take()
			err := use.run()
			calls, stmts := d.take()
			if (errors.Is(err, repo.ErrUnknownField) || errors.Is(err, repo.ErrInvalidQuery)) && calls != 0 {
				t.Fatalf("%s %q: failed (%v) after reaching the Runner: %q", use.name, s, err, stmts)
			}
			for _, st := range stmts {
				if s != "" && strings.Contains(st, s) && !strings.Contains(st, `"`+s+`"`) && !strings.Contains(st, `"`+s+`.`) {
					t.Fatalf("%s %q: the name appears unquoted in %s", use.name, s, st)
				}
			}
		}
	})
}

// TestNestedSQLInNewHelpers: SQL hidden in the values of Or, Not, Has,
// Between, PreloadWith and Links keys reaches no Runner, and on both
// databases leaves the rows as they were.
func TestNestedSQLInNewHelpers(t *testing.T) {
	uses := func(ctx context.Context, a *repo.Repository[rwArticle], u *repo.Repository[rwUser], v any) map[string]func() error {
		find := func(q repo.Query) func() error { return func() error { _, err := a.Find(ctx, q); return err } }
		return map[string]func() error{
			"Or":          find(repo.Or(repo.Where("id", repo.Eq, 1), repo.Where("title", repo.Eq, v))),
			"Not":         find(repo.Not(repo.Where("title", repo.In, v))),
			"Has":         find(repo.Has("Tags", repo.Where("name", repo.Eq, v))),
			"Has path":    find(repo.Has("Author.Followers", repo.Where("username", repo.In, v))),
			"path":        find(repo.Where("Author.Username", repo.Eq, v)),
			"Between":     find(repo.Where("stars", repo.Between, []any{1, v})),
			"PreloadWith": find(repo.All().PreloadWith("Comments", repo.Where("body", repo.Eq, v))),
			"CountBy": func() error {
				_, err := repo.CountBy[int64](ctx, a, "author_id", repo.Where("title", repo.Eq, v))
				return err
			},
			"Links owner": func() error { return u.Links("Favorites").Add(ctx, v, 1) },
			"Links target": func() error {
				return u.Links("Favorites").Remove(ctx, 1, v)
			},
			"Links Linked": func() error { _, err := u.Links("Following").Linked(ctx, 1, v); return err },
		}
	}
	t.Run("dry", func(t *testing.T) {
		d := newDryRunner(t)
		a, u := repo.New[rwArticle](d), repo.New[rwUser](d)
		for name, v := range nestedSQL(d.db) {
			for use, run := range uses(context.Background(), a, u, v) {
				d.take()
				if err := run(); !errors.Is(err, repo.ErrInvalidQuery) {
					t.Errorf("%s %s: %v, want ErrInvalidQuery", use, name, err)
				}
				if calls, stmts := d.take(); calls != 0 {
					t.Errorf("%s %s: reached the Runner: %q", use, name, stmts)
				}
			}
		}
	})
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := newConduit(t, b.open)
			ctx := context.Background()
			before := snapshot(t, c.p)
			for name, v := range nestedSQL(c.p.Gorm()) {
				for use, run := range uses(ctx, c.articles, c.users, v) {
					if err := run(); !errors.Is(err, repo.ErrInvalidQuery) {
						t.Errorf("%s %s: %v, want ErrInvalidQuery", use, name, err)
					}
				}
			}
			for _, s := range hostileNames {
				for _, use := range identUses(ctx, c.articles, c.users, s) {
					if err := use.run(); !errors.Is(err, repo.ErrUnknownField) {
						t.Errorf("%s %q: %v", use.name, use.ident, err)
					}
				}
			}
			if after := snapshot(t, c.p); after != before {
				t.Fatalf("rows changed:\n%s\n%s", before, after)
			}
		})
	}
}

// snapshot is every row of the fixture's tables, as text.
func snapshot(t *testing.T, p *pool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, table := range rwTables {
		var rows []map[string]any
		if err := p.Gorm().Table(table).Order("1, 2").Find(&rows).Error; err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		fmt.Fprintf(&b, "%s %v\n", table, rows)
	}
	return b.String()
}
