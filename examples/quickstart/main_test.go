package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
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
			var out, logs bytes.Buffer
			if err := run(ctx, &out, textLogger(&logs, slog.LevelWarn)); err != nil {
				t.Fatalf("quickstart failed: %v\n%s", err, out.String())
			}
			// As quiet as before by default: no statement is logged below Warn.
			if strings.Contains(logs.String(), "level=DEBUG") || strings.Contains(logs.String(), "level=INFO") {
				t.Errorf("default logging shows Debug or Info lines:\n%s", logs.String())
			}
			for _, want := range []string{"created and updated note", "hostile sort field refused", "1000 ok, 0 failed", "database/sql waited 0 times"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			// A second start finds the schema up to date and runs again.
			out.Reset()
			if err := run(ctx, &out, textLogger(&logs, slog.LevelWarn)); err != nil {
				t.Fatalf("second run failed: %v\n%s", err, out.String())
			}
		})
	}
}

func textLogger(w io.Writer, l slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// -v in the development profile shows every statement at Debug, with
// placeholders, never a value; in production it shows none of them.
func TestQuickstartVerboseShowsQueries(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	for _, tc := range []struct {
		env      string
		wantStmt bool
	}{{"development", true}, {"production", false}} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv("APP_ENV", tc.env)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out, logs bytes.Buffer
			if err := run(ctx, &out, textLogger(&logs, slog.LevelDebug)); err != nil {
				t.Fatalf("quickstart failed: %v\n%s", err, out.String())
			}
			n := 0
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "level=DEBUG") && strings.Contains(line, `msg="SQL executed"`) && strings.Contains(line, "component=tollgate/sql") {
					n++
				}
			}
			if tc.wantStmt && (n < 1000 || !strings.Contains(logs.String(), "INSERT INTO `qs_notes`") || !strings.Contains(logs.String(), "?")) {
				t.Fatalf("%d statements at Debug, want every one of the 1000+:\n%.2000s", n, logs.String())
			}
			if !tc.wantStmt && n != 0 {
				t.Fatalf("production logged %d statements at Debug", n)
			}
			for _, value := range []string{"first note", "burst 1", "user7"} { // bound values
				if strings.Contains(logs.String(), value) {
					t.Fatalf("the value %q was logged", value)
				}
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	for _, tc := range []struct {
		verbose bool
		env     string
		want    slog.Level
		err     bool
	}{
		{false, "", slog.LevelWarn, false},
		{true, "", slog.LevelDebug, false},
		{true, "error", slog.LevelDebug, false},
		{false, "debug", slog.LevelDebug, false},
		{false, "INFO", slog.LevelInfo, false},
		{false, "loud", 0, true},
	} {
		got, err := logLevel(tc.verbose, tc.env)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("logLevel(%v, %q) = %v, %v", tc.verbose, tc.env, got, err)
		}
	}
}
