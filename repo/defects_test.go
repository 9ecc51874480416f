package repo_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// hostileValuer is a custom gorm.Valuer: GORM would paste its GormValue
// expression into the SQL text.
type hostileValuer struct{}

func (hostileValuer) GormValue(context.Context, *gorm.DB) clause.Expr {
	return gorm.Expr("(SELECT email FROM repo_inj_users)")
}

// ptrValuer is a gorm.Valuer through its pointer receiver only.
type ptrValuer struct{ s string }

func (*ptrValuer) GormValue(context.Context, *gorm.DB) clause.Expr { return gorm.Expr("1=1") }

// nestedSQL are SQL expressions hidden in values at every depth. db is
// any *gorm.DB, for sub-queries.
func nestedSQL(db *gorm.DB) map[string]any {
	sub := db.Table("repo_inj_users").Select("email")
	expr := gorm.Expr("SELECT email FROM repo_inj_users")
	deep := any(expr)
	for range 10 {
		deep = []any{deep}
	}
	selfRef := []any{nil}
	selfRef[0] = selfRef
	return map[string]any{
		"[]any{Expr}":             []any{expr},
		"[]any{[]any{Expr}}":      []any{[]any{expr}},
		"[1]any{Expr}":            [1]any{expr},
		"[]clause.Expr":           []clause.Expr{expr},
		"[]clause.Expression":     []clause.Expression{clause.Eq{Column: "id", Value: 1}},
		"[]any{Column Raw}":       []any{clause.Column{Name: "email) OR (1=1", Raw: true}},
		"Column Raw":              clause.Column{Name: "email", Raw: true},
		"[]any{*gorm.DB}":         []any{sub},
		"*gorm.DB":                sub,
		"gorm.Valuer":             hostileValuer{},
		"[]any{gorm.Valuer}":      []any{"a", hostileValuer{}},
		"*ptrValuer":              &ptrValuer{"x"},
		"ptrValuer value":         []any{ptrValuer{"x"}},
		"*clause.Expr":            &expr,
		"*[]any{Expr}":            &[]any{expr},
		"map value Expr":          map[string]any{"k": expr},
		"map key Expr":            map[any]int{clause.Column{Name: "1=1", Raw: true}: 1},
		"[]any{map{Expr}}":        []any{map[string]any{"k": []any{expr}}},
		"clause.Table":            []any{clause.Table{Name: "pg_user", Raw: true}},
		"clause.Interface":        []any{clause.Where{Exprs: []clause.Expression{expr}}},
		"11 levels":               deep,
		"self-referencing":        selfRef,
		"[]any{gorm.G chain}":     []any{gorm.G[injUser](db).Where("1=1")},
		"[]any{clause.NamedExpr}": []any{clause.NamedExpr{SQL: "@x", Vars: []any{sql.Named("x", 1)}}},
	}
}

// TestNestedSQLRefused: no SQL expression hidden in a value reaches the
// Runner, for every operator and UpdateFields.
func TestNestedSQLRefused(t *testing.T) {
	d := newDryRunner(t)
	r := repo.New[injUser](d)
	ctx := context.Background()
	for name, v := range nestedSQL(d.db) {
		d.take()
		for _, op := range []repo.Op{repo.Eq, repo.Ne, repo.In, repo.Gt, repo.Like} {
			if _, err := r.Find(ctx, repo.Where("email", op, v)); !errors.Is(err, repo.ErrInvalidQuery) {
				t.Errorf("%s %s: %v, want ErrInvalidQuery", name, op, err)
			}
		}
		if err := r.UpdateFields(ctx, 1, map[string]any{"name": v}); !errors.Is(err, repo.ErrInvalidQuery) {
			t.Errorf("%s UpdateFields: %v, want ErrInvalidQuery", name, err)
		}
		if calls, stmts := d.take(); calls != 0 {
			t.Errorf("%s: %d calls reached the Runner: %q", name, calls, stmts)
		}
	}
}

// TestPlainNestedValuesAccepted: slices, pointers, Valuers and bytes that
// hold no SQL are still bound.
func TestPlainNestedValuesAccepted(t *testing.T) {
	d := newDryRunner(t)
	r := repo.New[injUser](d)
	ctx := context.Background()
	s := "a@x"
	for name, v := range map[string]any{
		"[]int": []int{1, 2}, "[]any of strings": []any{"a", "b"}, "[2]string": [2]string{"a", "b"},
		"[]*string": []*string{&s}, "[]sql.NullString": []sql.NullString{{String: "a", Valid: true}},
		"[]time.Time": []time.Time{time.Unix(0, 0)}, "[]any{[]byte}": []any{[]byte("a")},
	} {
		if _, err := r.Find(ctx, repo.Where("email", repo.In, v)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if calls, _ := d.take(); calls != 7 {
		t.Fatalf("%d calls, want 7", calls)
	}
}

// TestNestedSQLOnDatabases runs the payloads on both databases:
// refused, and the rows (a soft-deleted one among them) unchanged.
func TestNestedSQLOnDatabases(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &injUser{})
			r := repo.New[injUser](p)
			ctx := context.Background()
			seed := []injUser{{Name: "a", Email: "a@x"}, {Name: "b", Email: "b@x"}, {Name: "gone", Email: "gone@x"}}
			if err := r.CreateBatch(ctx, seed, 0); err != nil {
				t.Fatal(err)
			}
			if err := r.Delete(ctx, seed[2].ID); err != nil {
				t.Fatal(err)
			}
			for name, v := range nestedSQL(p.Gorm()) {
				for _, op := range []repo.Op{repo.Eq, repo.In} {
					got, err := r.Find(ctx, repo.Where("email", op, v))
					if !errors.Is(err, repo.ErrInvalidQuery) || len(got) != 0 {
						t.Errorf("%s %s: %d rows, %v; want ErrInvalidQuery", name, op, len(got), err)
					}
				}
				if err := r.UpdateFields(ctx, seed[0].ID, map[string]any{"name": v}); !errors.Is(err, repo.ErrInvalidQuery) {
					t.Errorf("%s UpdateFields: %v", name, err)
				}
			}
			var rows []injUser
			if err := p.Gorm().Unscoped().Order("id").Find(&rows).Error; err != nil {
				t.Fatal(err)
			}
			if len(rows) != 3 || rows[0].Name != "a" || rows[1].Name != "b" || rows[2].Name != "gone" || !rows[2].DeletedAt.Valid {
				t.Fatalf("rows changed: %+v", rows)
			}
		})
	}
}

// TestUpdateFieldsAliasedKeys: two keys naming one column are refused,
// whatever the map order, and nothing is written.
func TestUpdateFieldsAliasedKeys(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &injUser{})
			r := repo.New[injUser](p)
			ctx := context.Background()
			u := injUser{Name: "a", Email: "a@x"}
			if err := r.Create(ctx, &u); err != nil {
				t.Fatal(err)
			}
			for range 20 { // map order varies
				err := r.UpdateFields(ctx, u.ID, map[string]any{"Email": "A@x", "email": "B@x", "name": "changed"})
				if !errors.Is(err, repo.ErrInvalidQuery) || !strings.Contains(err.Error(), `"Email" and "email"`) {
					t.Fatalf("aliased keys: %v", err)
				}
			}
			got, err := r.Get(ctx, u.ID)
			if err != nil || got.Email != "a@x" || got.Name != "a" {
				t.Fatalf("row after refused update: %+v %v", got, err)
			}
		})
	}
}

type likeRow struct {
	ID   int64
	Name string
}

func (likeRow) TableName() string { return "repo_like_rows" }

// TestLikeEscape: EscapeLike's patterns match literally on both
// databases, because Like declares its escape character.
func TestLikeEscape(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &likeRow{})
			r := repo.New[likeRow](p)
			ctx := context.Background()
			names := []string{"a_b", "axb", `a\xb`, `a\_b`, "a%b", "aXYb"}
			rows := make([]likeRow, len(names))
			for i, n := range names {
				rows[i].Name = n
			}
			if err := r.CreateBatch(ctx, rows, 0); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				pattern string
				want    string
			}{
				{repo.EscapeLike("a_b"), "a_b"},
				{repo.EscapeLike(`a\_b`), `a\_b`},
				{repo.EscapeLike(`a\xb`), `a\xb`},
				{repo.EscapeLike("a%b"), "a%b"},
				{"a" + repo.EscapeLike("%") + "%", "a%b"},
				{"a_b", "a%b a_b axb"}, // unescaped: _ is any one character
				{`a\_b`, "a_b"},        // the declared escape: \_ is a literal _
			} {
				got, err := r.Find(ctx, repo.Where("name", repo.Like, tc.pattern))
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, g := range got {
					names = append(names, g.Name)
				}
				slices.Sort(names)
				if s := strings.Join(names, " "); s != tc.want {
					t.Errorf("LIKE %q: %q, want %q", tc.pattern, s, tc.want)
				}
			}
		})
	}
}

type defStamp struct {
	ID    int64
	Email string `gorm:"not null;uniqueIndex"`
	Name  string
	Seen  time.Time `gorm:"default:CURRENT_TIMESTAMP"`
}

func (defStamp) TableName() string { return "repo_def_stamps" }

// TestUpsertDefaultExpressionColumn: an Upsert with no update columns
// writes a column whose default is a database expression, too.
func TestUpsertDefaultExpressionColumn(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &defStamp{})
			r := repo.New[defStamp](p)
			ctx := context.Background()
			t1 := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			t2 := time.Date(2024, 6, 7, 8, 9, 10, 0, time.UTC)
			a := defStamp{Email: "a@x", Name: "a", Seen: t1}
			if err := r.Create(ctx, &a); err != nil {
				t.Fatal(err)
			}
			if err := r.Upsert(ctx, []defStamp{{Email: "a@x", Name: "a2", Seen: t2}, {Email: "b@x", Name: "b", Seen: t1}}, []string{"email"}); err != nil {
				t.Fatal(err)
			}
			got, err := r.Find(ctx, repo.All().OrderBy("email", repo.Asc))
			if err != nil || len(got) != 2 {
				t.Fatalf("%+v %v", got, err)
			}
			if got[0].ID != a.ID || got[0].Name != "a2" || !got[0].Seen.Equal(t2) {
				t.Fatalf("upserted row %+v: want name a2, seen %v", got[0], t2)
			}
			if !got[1].Seen.Equal(t1) {
				t.Fatalf("inserted row %+v", got[1])
			}
		})
	}
}

type famParent struct {
	ID   int64
	Name string
	Kids []famKid `gorm:"foreignKey:ParentID"`
}

func (famParent) TableName() string { return "repo_fam_parents" }

type famKid struct {
	ID       int64
	ParentID int64
	Name     string
}

func (famKid) TableName() string { return "repo_fam_kids" }

// TestUpdateOmitsAssociations: Update writes the row only, never the
// associated rows in v (GORM would insert them under Select("*")).
func TestUpdateOmitsAssociations(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{})
			migrate(t, p, &famParent{}, &famKid{})
			parents, kids := repo.New[famParent](p), repo.New[famKid](p)
			ctx := context.Background()
			par := famParent{Name: "p"}
			if err := parents.Create(ctx, &par); err != nil {
				t.Fatal(err)
			}
			par.Name = "p2"
			par.Kids = []famKid{{Name: "new kid"}}
			if err := parents.Update(ctx, &par); err != nil {
				t.Fatal(err)
			}
			if n, err := kids.Count(ctx, repo.All()); err != nil || n != 0 {
				t.Fatalf("Update inserted %d associated rows (%v)", n, err)
			}
			if got, err := parents.Get(ctx, par.ID); err != nil || got.Name != "p2" {
				t.Fatalf("%+v %v", got, err)
			}
		})
	}
}
