package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// A command's tests live in package main: nothing can import a command.

const testToken = "httpapi-test-token"

var quiet = slog.New(slog.DiscardHandler)

// backends are the real pools the endpoints are tested on.
func backends(t *testing.T) map[string]func(t *testing.T) *pool.Pool {
	return map[string]func(t *testing.T) *pool.Pool{
		"sqlite": func(t *testing.T) *pool.Pool {
			p, done, err := openPool(t.Context(), "", quiet, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(done)
			return p
		},
		"postgres": func(t *testing.T) *pool.Pool {
			p, done, err := openPool(t.Context(), testdb.Postgres(t), quiet, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(done)
			if err := migrate(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			if err := p.Do(t.Context(), func(ctx context.Context, db *gorm.DB) error {
				return db.Exec("DELETE FROM httpapi_users").Error
			}); err != nil {
				t.Fatal(err)
			}
			return p
		},
	}
}

type call struct {
	name, method, path, auth, body string
	wantCode                       int
	wantBody                       string // substring
}

func TestEndpointsEndToEnd(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			p := open(t)
			t.Cleanup(func() { p.Close(context.Background()) })
			if err := migrate(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			srv := newServer(p, serverConfig{HealthToken: testToken, Logger: quiet})
			defer srv.Close()
			ts := httptest.NewServer(srv)
			defer ts.Close()
			admin := httptest.NewServer(srv.Admin())
			defer admin.Close()

			for _, c := range []call{
				{"empty list", "GET", "/api/users", "", "", 200, `"items":[]`},
				{"create", "POST", "/api/users", "", `{"email":"ada@example.com","name":"Ada"}`, 201, `"email":"ada@example.com"`},
				{"create second", "POST", "/api/users", "", `{"email":"bob@example.com","name":"Bob"}`, 201, `"name":"Bob"`},
				{"duplicate email", "POST", "/api/users", "", `{"email":"ada@example.com","name":"Ada 2"}`, 409, "exists"},
				{"bad email", "POST", "/api/users", "", `{"email":"nope","name":"N"}`, 400, "email"},
				{"unknown field", "POST", "/api/users", "", `{"email":"c@example.com","name":"C","admin":true}`, 400, "invalid JSON"},
				{"bad JSON", "POST", "/api/users", "", `{"email":`, 400, "invalid JSON"},
				{"list page", "GET", "/api/users?limit=1", "", "", 200, `"next":"`},
				{"bad limit", "GET", "/api/users?limit=1000", "", "", 400, "limit"},
				{"bad cursor", "GET", "/api/users?cursor=garbage", "", "", 400, "cursor"},
				{"missing user", "GET", "/api/users/999999", "", "", 404, "not found"},
				{"bad id", "GET", "/api/users/abc", "", "", 400, "id"},
				{"wrong method", "DELETE", "/api/users", "", "", 405, ""},
				{"liveness", "GET", "/livez", "", "", 200, `"ok"`},
				{"readiness", "GET", "/readyz", "", "", 200, `{"status":"healthy"}`},
				// The full report and the metrics are not public.
				{"no public health report", "GET", "/api/health/database", "", "", 404, ""},
				{"no public cleanup", "POST", "/api/health/database", "Bearer " + testToken, `{"action":"cleanup"}`, 404, ""},
				{"no public metrics", "GET", "/metrics", "", "", 404, ""},
			} {
				code, body := do(t, ts, c)
				if code != c.wantCode || !strings.Contains(body, c.wantBody) {
					t.Errorf("public %s: %s %s = %d %s; want %d containing %q", c.name, c.method, c.path, code, body, c.wantCode, c.wantBody)
				}
			}
			for _, c := range []call{
				{"health", "GET", "/api/health/database", "", "", 200, `"status":"healthy"`},
				{"cleanup without token", "POST", "/api/health/database", "", `{"action":"cleanup"}`, 401, "token"},
				{"cleanup", "POST", "/api/health/database", "Bearer " + testToken, `{"action":"cleanup"}`, 200, `"action":"cleanup"`},
				{"cleanup unknown action", "POST", "/api/health/database", "Bearer " + testToken, `{"action":"drop"}`, 400, "unknown action"},
				{"metrics", "GET", "/metrics", "", "", 200, "tollgate_executor_processed_total"},
				{"no users on admin", "GET", "/api/users", "", "", 404, ""},
			} {
				code, body := do(t, admin, c)
				if code != c.wantCode || !strings.Contains(body, c.wantBody) {
					t.Errorf("admin %s: %s %s = %d %s; want %d containing %q", c.name, c.method, c.path, code, body, c.wantCode, c.wantBody)
				}
			}

			// Get by id what was created, and walk the pages.
			var first struct {
				Items []User `json:"items"`
				Next  string `json:"next"`
			}
			_, body := do(t, ts, call{method: "GET", path: "/api/users?limit=1"})
			if err := json.Unmarshal([]byte(body), &first); err != nil || len(first.Items) != 1 || first.Items[0].Email != "ada@example.com" {
				t.Fatalf("first page %s: %v", body, err)
			}
			if code, body := do(t, ts, call{method: "GET", path: fmt.Sprintf("/api/users/%d", first.Items[0].ID)}); code != 200 || !strings.Contains(body, "Ada") {
				t.Fatalf("get by id: %d %s", code, body)
			}
			if code, body := do(t, ts, call{method: "GET", path: "/api/users?limit=1&cursor=" + first.Next}); code != 200 || !strings.Contains(body, "bob@example.com") || strings.Contains(body, `"next"`) {
				t.Fatalf("second page: %d %s", code, body)
			}
		})
	}
}

func do(t *testing.T, ts *httptest.Server, c call) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), c.method, ts.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// On shutdown the server first stops accepting and waits for the request
// in flight, and only then drains and closes the pool: the request, which
// makes a second pool call after it is released, must still find the pool
// open.
func TestServeShutsDownGracefully(t *testing.T) {
	p, done, err := openPool(t.Context(), "", quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := p.Do(r.Context(), func(ctx context.Context, db *gorm.DB) error {
			close(entered)
			<-release
			return db.Exec("SELECT 1").Error
		})
		if err == nil {
			// After release: with the pool closed first this is pool.ErrClosed.
			err = p.Do(r.Context(), func(ctx context.Context, db *gorm.DB) error {
				return db.Exec("SELECT 2").Error
			})
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, p, quiet, site{Listener: ln, Handler: h}, site{Listener: adminLn, Handler: http.NotFoundHandler()})
	}()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	<-entered
	cancel() // SIGTERM
	// Shutdown has begun when the listener refuses new connections; the
	// request in flight must not be finished by then.
	waitFor(t, "the listener to refuse connections after cancel", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case r := <-got:
		t.Fatalf("the in-flight request finished before it was released: %q", r)
	default:
	}
	if p.Stats().Executor.Closed {
		t.Fatal("the pool was closed while a request was in flight")
	}
	close(release)
	if r := <-got; r != "200 done" {
		t.Fatalf("in-flight request got %q", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !p.Stats().Executor.Closed {
		t.Fatal("pool not closed after shutdown")
	}
	if c, err := net.DialTimeout("tcp", adminLn.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the admin listener still accepts after shutdown")
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 5s waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, bounded by the deadline
	}
}
