package repo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
	"gorm.io/gorm"
)

type pgUser struct {
	ID        int64  `gorm:"primaryKey"`
	Email     string `gorm:"not null;uniqueIndex:repo_pg_users_email_key"`
	Name      string
	Age       int
	Nick      *string
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

func (pgUser) TableName() string { return "repo_pg_users" }

func strp(s string) *string { return &s }

// seedUsers creates n users: user-i, age i%10, every third with a nick.
func seedUsers(t *testing.T, r *repo.Repository[pgUser], n int) []pgUser {
	t.Helper()
	us := make([]pgUser, n)
	for i := range us {
		us[i] = pgUser{Email: fmt.Sprintf("u%03d@x", i), Name: fmt.Sprintf("user-%03d", i), Age: i % 10}
		if i%3 == 0 {
			us[i].Nick = strp(fmt.Sprintf("n%d", i%4))
		}
	}
	if err := r.CreateBatch(context.Background(), us, 7); err != nil {
		t.Fatal(err)
	}
	return us
}

func TestPostgresCRUD(t *testing.T) {
	p := pgPool(t, pool.Config{})
	migrate(t, p, &pgUser{})
	r := repo.New[pgUser](p)
	ctx := context.Background()

	u := pgUser{Email: "a@x", Name: "A", Age: 30}
	if err := r.Create(ctx, &u); err != nil || u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("Create: %v, %+v", err, u)
	}
	got, err := r.Get(ctx, u.ID)
	if err != nil || got.Email != "a@x" {
		t.Fatalf("Get: %v %+v", err, got)
	}
	if _, err := r.Get(ctx, int32(u.ID)); err != nil {
		t.Fatalf("Get with int32 key: %v", err)
	}
	if _, err := r.Get(ctx, "1 OR 1=1"); !errors.Is(err, repo.ErrInvalidQuery) {
		t.Fatalf("Get with a string key: %v, want ErrInvalidQuery", err)
	}

	_, err = r.Get(ctx, 987654)
	if !errors.Is(err, repo.ErrNotFound) || !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	if want := "repo: get repo_pg_users 987654: record not found"; err.Error() != want {
		t.Fatalf("error text %q, want %q", err, want)
	}

	// Unique violation: ErrConflict with the constraint, PgError reachable.
	err = r.Create(ctx, &pgUser{Email: "a@x", Name: "dup"})
	var ce *repo.ConflictError
	var pe *pgconn.PgError
	if !errors.Is(err, repo.ErrConflict) || !errors.As(err, &ce) || !errors.As(err, &pe) {
		t.Fatalf("duplicate: %v", err)
	}
	if ce.Constraint != "repo_pg_users_email_key" || pe.Code != "23505" || ce.Table != "repo_pg_users" {
		t.Fatalf("conflict %+v, pg code %s", ce, pe.Code)
	}

	// Update: whole struct by key; creation time kept, update time set.
	before, created := got.UpdatedAt, got.CreatedAt
	got.Name, got.Age, got.CreatedAt = "A2", 31, time.Time{}
	if err := r.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	again, _ := r.Get(ctx, u.ID)
	if again.Name != "A2" || again.Age != 31 || !again.CreatedAt.Equal(created) || !again.UpdatedAt.After(before) {
		t.Fatalf("after Update: %+v (created %v)", again, u.CreatedAt)
	}
	if err := r.Update(ctx, &pgUser{ID: 987654, Email: "z@x"}); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("Update missing: %v", err)
	}
	if err := r.Update(ctx, &pgUser{Email: "z@x"}); !errors.Is(err, repo.ErrInvalidQuery) {
		t.Fatalf("Update zero key: %v", err)
	}

	// UpdateFields by Go name and column name.
	if err := r.UpdateFields(ctx, u.ID, map[string]any{"Name": "A3", "age": 40, "nick": strp("aa")}); err != nil {
		t.Fatal(err)
	}
	again, _ = r.Get(ctx, u.ID)
	if again.Name != "A3" || again.Age != 40 || again.Nick == nil || *again.Nick != "aa" {
		t.Fatalf("after UpdateFields: %+v", again)
	}
	for _, tc := range []struct {
		fields map[string]any
		id     any
		want   error
	}{
		{map[string]any{"nope": 1}, u.ID, repo.ErrUnknownField},
		{map[string]any{"id": 5}, u.ID, repo.ErrInvalidQuery},
		{map[string]any{"name": "x"}, 987654, repo.ErrNotFound},
		{map[string]any{"email": "a@x"}, u.ID, nil},
	} {
		if err := r.UpdateFields(ctx, tc.id, tc.fields); !errors.Is(err, tc.want) {
			t.Errorf("UpdateFields(%v, %v) = %v, want %v", tc.id, tc.fields, err, tc.want)
		}
	}

	// Soft delete.
	if err := r.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, u.ID); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := r.Delete(ctx, u.ID); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if err := r.UpdateFields(ctx, u.ID, map[string]any{"name": "ghost"}); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("UpdateFields of a deleted row: %v", err)
	}
	var raw int64
	p.Gorm().Unscoped().Model(&pgUser{}).Where("id = ? AND deleted_at IS NOT NULL", u.ID).Count(&raw)
	if raw != 1 {
		t.Fatalf("soft-deleted row: %d rows with deleted_at, want 1", raw)
	}
	if ok, err := r.Exists(ctx, repo.Where("id", repo.Eq, u.ID)); ok || err != nil {
		t.Fatalf("Exists of a deleted row: %v %v", ok, err)
	}
}

func TestPostgresQueries(t *testing.T) {
	p := pgPool(t, pool.Config{})
	migrate(t, p, &pgUser{})
	r := repo.New[pgUser](p)
	ctx := context.Background()
	us := seedUsers(t, r, 30)
	for i, u := range us {
		if u.ID == 0 || (i > 0 && u.ID <= us[i-1].ID) {
			t.Fatalf("CreateBatch keys not filled in: %d: %d", i, u.ID)
		}
	}
	for _, tc := range []struct {
		name string
		q    repo.Query
		want int64
	}{
		{"all", repo.All(), 30},
		{"eq", repo.Where("age", repo.Eq, 3), 3},
		{"ne", repo.Where("Age", repo.Ne, 3), 27},
		{"lt", repo.Where("age", repo.Lt, 3), 9},
		{"le", repo.Where("age", repo.Le, 3), 12},
		{"gt", repo.Where("age", repo.Gt, 7), 6},
		{"ge", repo.Where("age", repo.Ge, 7), 9},
		{"in", repo.Where("age", repo.In, []int{1, 2}), 6},
		{"in empty", repo.Where("age", repo.In, []int{}), 0},
		{"like", repo.Where("name", repo.Like, "user-00%"), 10},
		{"is null", repo.Where("nick", repo.IsNull, true), 20},
		{"is not null", repo.Where("Nick", repo.IsNull, false), 10},
		{"eq nil", repo.Where("nick", repo.Eq, nil), 20},
		{"and", repo.Where("age", repo.Ge, 5).And("nick", repo.IsNull, false), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := r.Count(ctx, tc.q)
			if err != nil || n != tc.want {
				t.Fatalf("Count = %d, %v; want %d", n, err, tc.want)
			}
			rows, err := r.Find(ctx, tc.q)
			if err != nil || int64(len(rows)) != tc.want {
				t.Fatalf("Find = %d rows, %v; want %d", len(rows), err, tc.want)
			}
			ok, err := r.Exists(ctx, tc.q)
			if err != nil || ok != (tc.want > 0) {
				t.Fatalf("Exists = %v, %v", ok, err)
			}
		})
	}
	rows, err := r.Find(ctx, repo.Where("age", repo.Eq, 4).OrderBy("name", repo.Desc).Limit(2).Offset(1))
	if err != nil || len(rows) != 2 || rows[0].Name != "user-014" || rows[1].Name != "user-004" {
		t.Fatalf("ordered page: %v %+v", err, rows)
	}
	first, err := r.First(ctx, repo.Where("age", repo.Eq, 9).OrderBy("email", repo.Desc))
	if err != nil || first.Name != "user-029" {
		t.Fatalf("First: %v %+v", err, first)
	}
	if _, err := r.First(ctx, repo.Where("age", repo.Eq, 99)); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("First none: %v", err)
	}
	for _, q := range []repo.Query{repo.All().Limit(-1), repo.All().Offset(-2), repo.Where("age", repo.Op(99), 1),
		repo.Where("age", repo.In, 3), repo.Where("age", repo.Lt, nil)} {
		if _, err := r.Find(ctx, q); !errors.Is(err, repo.ErrInvalidQuery) {
			t.Errorf("bad query: %v, want ErrInvalidQuery", err)
		}
	}
}

func TestPostgresUpsert(t *testing.T) {
	p := pgPool(t, pool.Config{})
	migrate(t, p, &pgUser{})
	r := repo.New[pgUser](p)
	ctx := context.Background()
	us := seedUsers(t, r, 3)
	orig, _ := r.Get(ctx, us[0].ID)

	// One conflicting row, one new: every column but the key is updated.
	items := []pgUser{{Email: us[0].Email, Name: "new-0", Age: 77}, {Email: "fresh@x", Name: "fresh", Age: 5}}
	if err := r.Upsert(ctx, items, []string{"email"}); err != nil {
		t.Fatal(err)
	}
	if items[0].ID != us[0].ID || items[1].ID == 0 {
		t.Fatalf("keys after Upsert: %d (want %d), %d", items[0].ID, us[0].ID, items[1].ID)
	}
	got, _ := r.Get(ctx, us[0].ID)
	if got.Name != "new-0" || got.Age != 77 || !got.CreatedAt.Equal(orig.CreatedAt) {
		t.Fatalf("upserted row %+v", got)
	}
	// Given update columns: only those change.
	if err := r.Upsert(ctx, []pgUser{{Email: us[1].Email, Name: "only-name", Age: 99}}, []string{"Email"}, "Name"); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Get(ctx, us[1].ID)
	if got.Name != "only-name" || got.Age != us[1].Age {
		t.Fatalf("partial upsert %+v", got)
	}
	// Only conflict columns: DO NOTHING.
	if err := r.Upsert(ctx, []pgUser{{Email: us[2].Email, Name: "ignored"}}, []string{"email"}, "email"); err != nil {
		t.Fatal(err)
	}
	if got, _ = r.Get(ctx, us[2].ID); got.Name != us[2].Name {
		t.Fatalf("DO NOTHING changed the row: %+v", got)
	}
	if n, _ := r.Count(ctx, repo.All()); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
	if err := r.Upsert(ctx, items, []string{"email); DROP TABLE repo_pg_users; --"}); !errors.Is(err, repo.ErrUnknownField) {
		t.Fatalf("bad conflict column: %v", err)
	}
	// A conflict on another unique column than the one named is an error.
	err := r.Upsert(ctx, []pgUser{{ID: us[0].ID, Email: us[1].Email}}, []string{"id"})
	if !errors.Is(err, repo.ErrConflict) {
		t.Fatalf("conflict on a non-target constraint: %v", err)
	}
}

func TestPostgresPageAndEach(t *testing.T) {
	p := pgPool(t, pool.Config{})
	migrate(t, p, &pgUser{})
	r := repo.New[pgUser](p)
	ctx := context.Background()
	us := seedUsers(t, r, 40)

	walk := func(t *testing.T, q repo.Query) []int64 {
		var ids []int64
		cursor := ""
		for range 100 {
			pg, err := r.Page(ctx, q, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range pg.Items {
				ids = append(ids, u.ID)
			}
			if !pg.HasMore {
				if pg.Next != "" {
					t.Fatal("Next set on the last page")
				}
				return ids
			}
			cursor = pg.Next
		}
		t.Fatal("page walk does not end")
		return nil
	}
	for _, tc := range []struct {
		name string
		q    repo.Query
		want int
		dir  repo.Direction
	}{
		{"by key", repo.All().Limit(7), 40, repo.Asc},
		{"by age desc", repo.All().OrderBy("age", repo.Desc).Limit(6), 40, repo.Desc},
		{"by nullable nick asc", repo.All().OrderBy("nick", repo.Asc).Limit(4), 40, repo.Asc},
		{"by nullable nick desc", repo.All().OrderBy("Nick", repo.Desc).Limit(4), 40, repo.Desc},
		{"filtered", repo.Where("age", repo.Lt, 5).OrderBy("name", repo.Asc).Limit(3), 20, repo.Asc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids := walk(t, tc.q)
			seen := map[int64]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("row %d seen twice", id)
				}
				seen[id] = true
			}
			if len(ids) != tc.want {
				t.Fatalf("%d rows, want %d", len(ids), tc.want)
			}
			// The walk agrees with Find's order of the same query.
			// (PostgreSQL's default NULL placement is the walk's.)
			all, err := r.Find(ctx, tc.q.Limit(1000).OrderBy("id", tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			{
				for i := range all {
					if all[i].ID != ids[i] {
						t.Fatalf("position %d: page walk %d, Find %d", i, ids[i], all[i].ID)
					}
				}
			}
		})
	}

	// Offset pagination, then the cursor continues after it.
	pg, err := r.Page(ctx, repo.All().Limit(5).Offset(10), "")
	if err != nil || len(pg.Items) != 5 || pg.Items[0].ID != us[10].ID || !pg.HasMore {
		t.Fatalf("offset page: %v %d", err, len(pg.Items))
	}
	next, err := r.Page(ctx, repo.All().Limit(5), pg.Next)
	if err != nil || next.Items[0].ID != us[15].ID {
		t.Fatalf("after offset page: %v", err)
	}

	// Tampered, foreign and malformed cursors.
	first, _ := r.Page(ctx, repo.All().OrderBy("age", repo.Asc).Limit(5), "")
	for name, tc := range map[string]struct {
		q      repo.Query
		cursor string
	}{
		"garbage":        {repo.All().OrderBy("age", repo.Asc).Limit(5), "!!!"},
		"truncated":      {repo.All().OrderBy("age", repo.Asc).Limit(5), first.Next[:len(first.Next)-3]},
		"other sort":     {repo.All().OrderBy("name", repo.Asc).Limit(5), first.Next},
		"other dir":      {repo.All().OrderBy("age", repo.Desc).Limit(5), first.Next},
		"other filter":   {repo.Where("name", repo.Eq, "x").OrderBy("age", repo.Asc).Limit(5), first.Next},
		"string for int": {repo.All().OrderBy("age", repo.Asc).Limit(5), cursorOf(`{"f":"age","d":"asc","h":"` + hashOf(t, r, first.Next) + `","v":"1 OR 1=1","k":1}`)},
		"null for int":   {repo.All().OrderBy("age", repo.Asc).Limit(5), cursorOf(`{"f":"age","d":"asc","h":"` + hashOf(t, r, first.Next) + `","v":null,"k":1}`)},
		"extra field":    {repo.All().OrderBy("age", repo.Asc).Limit(5), cursorOf(`{"f":"age","d":"asc","h":"` + hashOf(t, r, first.Next) + `","v":1,"k":1,"x":1}`)},
	} {
		if _, err := r.Page(ctx, tc.q, tc.cursor); !errors.Is(err, repo.ErrInvalidCursor) {
			t.Errorf("%s: %v, want ErrInvalidCursor", name, err)
		}
	}
	if _, err := r.Page(ctx, repo.All().OrderBy("age", repo.Asc).Limit(5).Offset(3), first.Next); !errors.Is(err, repo.ErrInvalidQuery) {
		t.Errorf("cursor with offset: %v", err)
	}
	if _, err := r.Page(ctx, repo.All().OrderBy("age", repo.Asc).OrderBy("name", repo.Asc), ""); !errors.Is(err, repo.ErrInvalidQuery) {
		t.Errorf("two sort fields: %v", err)
	}

	// Each: bounded batches, a total limit, fn's error returned as is.
	var batches, rows int
	err = r.Each(ctx, repo.Where("age", repo.Ge, 2).OrderBy("age", repo.Desc), 9, func(b []pgUser) error {
		if len(b) > 9 {
			t.Fatalf("batch of %d", len(b))
		}
		batches, rows = batches+1, rows+len(b)
		return nil
	})
	if err != nil || rows != 32 || batches != 4 {
		t.Fatalf("Each: %v, %d rows in %d batches", err, rows, batches)
	}
	rows = 0
	if err := r.Each(ctx, repo.All().Limit(11), 4, func(b []pgUser) error { rows += len(b); return nil }); err != nil || rows != 11 {
		t.Fatalf("Each with limit: %v, %d rows", err, rows)
	}
	stop := errors.New("stop")
	if err := r.Each(ctx, repo.All(), 4, func([]pgUser) error { return stop }); err != stop {
		t.Fatalf("Each stop: %v", err)
	}
}
