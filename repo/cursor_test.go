package repo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// cursorOf encodes a hand-made cursor, as a client tampering would.
func cursorOf(js string) string { return base64.RawURLEncoding.EncodeToString([]byte(js)) }

// hashOf reads the query-shape field of a real cursor, so that a forged
// cursor fails on its value and not on its shape.
func hashOf[T any](t *testing.T, _ *repo.Repository[T], cursor string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		H string `json:"h"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.H
}

// TestCursorBoundToFilterValues: a cursor is refused for a query that
// differs only in a filter value, and accepted for an equal query built
// anew (pointer values compare by what they point to).
func TestCursorBoundToFilterValues(t *testing.T) {
	p := sqlitePool(t, pool.Config{})
	migrate(t, p, &upItem{})
	r := repo.New[upItem](p)
	ctx := context.Background()
	var items []upItem
	for i := range 6 {
		items = append(items, upItem{Email: fmt.Sprintf("%d@x", i), Name: []string{"x", "y"}[i%2]})
	}
	if err := r.CreateBatch(ctx, items, 0); err != nil {
		t.Fatal(err)
	}
	x := "x"
	for _, tc := range []struct {
		name      string
		made, use repo.Query
		ok        bool
	}{
		{"same value", repo.Where("name", repo.Eq, "x"), repo.Where("name", repo.Eq, "x"), true},
		{"same pointed-to value", repo.Where("name", repo.Eq, &x), repo.Where("name", repo.Eq, strp("x")), true},
		{"same slice", repo.Where("name", repo.In, []string{"x", "z"}), repo.Where("name", repo.In, []string{"x", "z"}), true},
		{"other value", repo.Where("name", repo.Eq, "x"), repo.Where("name", repo.Eq, "y"), false},
		{"other pointed-to value", repo.Where("name", repo.Eq, &x), repo.Where("name", repo.Eq, strp("y")), false},
		{"other slice", repo.Where("name", repo.In, []string{"x", "z"}), repo.Where("name", repo.In, []string{"y", "z"}), false},
		{"other second value", repo.Where("name", repo.Ne, "q").And("email", repo.Like, "%@x"),
			repo.Where("name", repo.Ne, "q").And("email", repo.Like, "1%"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, err := r.Page(ctx, tc.made.Limit(1), "")
			if err != nil || first.Next == "" {
				t.Fatalf("first page: %v, next %q", err, first.Next)
			}
			_, err = r.Page(ctx, tc.use.Limit(1), first.Next)
			if tc.ok && err != nil {
				t.Fatalf("cursor refused for the same query: %v", err)
			}
			if !tc.ok && !errors.Is(err, repo.ErrInvalidCursor) {
				t.Fatalf("cursor for another filter value: %v, want ErrInvalidCursor", err)
			}
		})
	}
}
