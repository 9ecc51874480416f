package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/internal/testdb"
)

// The README's main job: it must run to the end, on SQLite with nothing
// set up, and on PostgreSQL when its URL is given.
func TestQuickstart(t *testing.T) {
	for _, tt := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return testdb.Postgres(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DATABASE_URL", tt.url(t))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out bytes.Buffer
			if err := run(ctx, &out); err != nil {
				t.Fatalf("quickstart failed: %v\n%s", err, out.String())
			}
			for _, want := range []string{"created and updated note", "hostile sort field refused", "1000 ok, 0 failed", "database/sql waited 0 times"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			// A second start finds the schema up to date and runs again.
			out.Reset()
			if err := run(ctx, &out); err != nil {
				t.Fatalf("second run failed: %v\n%s", err, out.String())
			}
		})
	}
}
