package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

func TestFailMapsErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		clientGone bool
		wantCode   int
		wantBody   string // substring; "" = empty body
		retryAfter bool
		wantLog    string // level of the one log line; "" = none
	}{
		{"pool closed", fmt.Errorf("repo: get users 1: %w", pool.ErrClosed), false, 503, "shutting down", true, ""},
		{"queue timeout", fmt.Errorf("repo: find users: %w", pool.ErrQueueTimeout), false, 503, "busy", true, ""},
		{"op deadline", fmt.Errorf("repo: get users 1: %w", context.DeadlineExceeded), false, 504, "timed out", false, "WARN"},
		{"statement_timeout", fmt.Errorf("repo: find users: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}), false, 504, "timed out", false, "WARN"},
		{"pool op timeout", fmt.Errorf("repo: find users: %w", pool.ErrOpTimeout), false, 504, "timed out", false, "WARN"},
		{"not found", fmt.Errorf("repo: get users 1: %w", repo.ErrNotFound), false, 404, "not found", false, ""},
		{"client gone", fmt.Errorf("repo: get users 1: %w", context.Canceled), true, statusClientClosedRequest, "", false, "DEBUG"},
		{"client gone during the op deadline", fmt.Errorf("repo: get users 1: %w", context.DeadlineExceeded), true, statusClientClosedRequest, "", false, "DEBUG"},
		{"client gone, pool closed", pool.ErrClosed, true, statusClientClosedRequest, "", false, "DEBUG"},
		{"anything else", errors.New("boom"), false, 500, "internal error", false, "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			s := &server{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.clientGone {
				cancel()
			}
			rec := httptest.NewRecorder()
			s.fail(rec, httptest.NewRequest(http.MethodGet, "/api/users/1", nil).WithContext(ctx), tc.err)
			if rec.Code != tc.wantCode {
				t.Fatalf("code %d, want %d", rec.Code, tc.wantCode)
			}
			if body := rec.Body.String(); (tc.wantBody == "") != (body == "") || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("body %q, want it to contain %q", body, tc.wantBody)
			}
			if got := rec.Header().Get("Retry-After") != ""; got != tc.retryAfter {
				t.Fatalf("Retry-After %q, want set=%v", rec.Header().Get("Retry-After"), tc.retryAfter)
			}
			logged := buf.String()
			if tc.wantLog == "" && logged != "" || tc.wantLog != "" && (strings.Count(logged, "\n") != 1 || !strings.Contains(logged, "level="+tc.wantLog)) {
				t.Fatalf("log %q, want one line at %q", logged, tc.wantLog)
			}
		})
	}
}

// A closed pool answers 503 with Retry-After, not 500: the instance is
// shutting down and the client should retry (elsewhere).
func TestClosedPoolAnswers503(t *testing.T) {
	p := backends(t)["sqlite"](t)
	if err := migrate(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	srv := newServer(p, serverConfig{Logger: quiet})
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/api/users/1", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("closed pool: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// A real statement cut by the pool's OpTimeout while the client still
// waits is a 504.
func TestOpDeadlineAnswers504(t *testing.T) {
	p, err := pool.Open(t.Context(), pool.Config{DatabaseURL: testdb.Postgres(t), OpTimeout: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	s := &server{log: quiet}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, p.Do(r.Context(), func(ctx context.Context, db *gorm.DB) error {
			return db.Exec("SELECT pg_sleep(5)").Error
		}))
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/slow", nil).WithContext(t.Context()))
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "timed out") {
		t.Fatalf("op deadline: %d %s; want 504", rec.Code, rec.Body)
	}
}
