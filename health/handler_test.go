package health_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

const token = "t0ken-for-tests-1"

func post(h http.Handler, auth, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/health/database", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPOSTCases(t *testing.T) {
	for _, tc := range []struct {
		name        string
		token       string // configured
		auth, body  string
		wantCode    int
		wantErr     string // substring of the JSON error; "" for success
		wantCleanup int64
	}{
		{"no token configured", "", "Bearer " + token, `{"action":"cleanup"}`, 403, "disabled", 0},
		{"missing token", token, "", `{"action":"cleanup"}`, 401, "token", 0},
		{"wrong token", token, "Bearer nope", `{"action":"cleanup"}`, 401, "token", 0},
		{"token prefix", token, "Bearer " + token[:5], `{"action":"cleanup"}`, 401, "token", 0},
		{"basic scheme", token, "Basic " + token, `{"action":"cleanup"}`, 401, "token", 0},
		{"oversized body", token, "Bearer " + token, `{"action":"cleanup","x":"` + strings.Repeat("a", 5000) + `"}`, 413, "too large", 0},
		{"oversized padding", token, "Bearer " + token, `{"action":"cleanup"}` + strings.Repeat(" ", 5000), 413, "too large", 0},
		{"bad JSON", token, "Bearer " + token, `{"action":`, 400, "invalid JSON", 0},
		{"not an object", token, "Bearer " + token, `"cleanup"`, 400, "invalid JSON", 0},
		{"empty body", token, "Bearer " + token, ``, 400, "empty body", 0},
		{"unknown field", token, "Bearer " + token, `{"action":"cleanup","force":true}`, 400, "unknown field", 0},
		{"trailing data", token, "Bearer " + token, `{"action":"cleanup"} {}`, 400, "after the JSON", 0},
		{"missing action", token, "Bearer " + token, `{}`, 400, "missing", 0},
		{"unknown action", token, "Bearer " + token, `{"action":"drop"}`, 400, "unknown action", 0},
		{"right token", token, "Bearer " + token, `{"action":"cleanup"}`, 200, "", 1},
		{"scheme case-insensitive", token, "bearer " + token, " {\"action\" : \"cleanup\"}\n", 200, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFake()
			hc := health.New(src, health.Config{Token: tc.token})
			defer hc.Close()
			rec := post(hc.Handler(), tc.auth, tc.body)
			if rec.Code != tc.wantCode || src.cleanups.Load() != tc.wantCleanup {
				t.Fatalf("code %d, cleanups %d; want %d, %d; body %s", rec.Code, src.cleanups.Load(), tc.wantCode, tc.wantCleanup, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type %q", ct)
			}
			if tc.wantErr == "" {
				var resp health.CleanupResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Action != "cleanup" || resp.Result.IdleClosed != 2 {
					t.Fatalf("response %s: %v", rec.Body, err)
				}
				return
			}
			var e health.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, tc.wantErr) {
				t.Fatalf("error body %s (%v), want it to mention %q", rec.Body, err, tc.wantErr)
			}
			if tc.wantCode == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

func TestOtherMethods(t *testing.T) {
	hc := health.New(newFake(), health.Config{})
	defer hc.Close()
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		rec := httptest.NewRecorder()
		hc.Handler().ServeHTTP(rec, httptest.NewRequest(m, "/", nil))
		var e health.ErrorResponse
		if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD, POST" || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("%s: %d, Allow %q, body %s", m, rec.Code, rec.Header().Get("Allow"), rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	hc.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: %d with %d body bytes", rec.Code, rec.Body.Len())
	}
}

func TestCleanupInvalidatesMemo(t *testing.T) {
	src := newFake()
	hc := health.New(src, health.Config{Token: token})
	defer hc.Close()
	hc.Check(t.Context())
	hc.Check(t.Context())
	if rec := post(hc.Handler(), "Bearer "+token, `{"action":"cleanup"}`); rec.Code != 200 {
		t.Fatalf("cleanup: %d %s", rec.Code, rec.Body)
	}
	if r := hc.Check(t.Context()); r.Cached || src.pings.Load() != 2 {
		t.Fatalf("after cleanup: cached %v, pings %d; want false, 2", r.Cached, src.pings.Load())
	}
}

// A real pool with idle connections: the authorised cleanup closes them,
// and Stats shows it.
func TestCleanupClosesIdleConnectionsOfRealPool(t *testing.T) {
	p := openSQLite(t, pool.Config{MaxOpenConns: 4, MaxConcurrent: 4})
	holdSlots(t, p, 3)() // open three connections, then let them go idle
	if idle := p.Stats().DB.Idle; idle != 3 {
		t.Fatalf("idle before cleanup = %d, want 3", idle)
	}
	hc := health.New(p, health.Config{Token: token})
	defer hc.Close()
	rec := post(hc.Handler(), "Bearer "+token, `{"action":"cleanup"}`)
	var resp health.CleanupResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("cleanup: %d %s", rec.Code, rec.Body)
	}
	st := p.Stats()
	if resp.Result.IdleClosed != 3 || resp.Result.OpenAfter != 0 || st.DB.Idle != 0 || st.DB.OpenConnections != 0 || st.Cleanups != 1 {
		t.Fatalf("result %+v, stats idle %d open %d cleanups %d", resp.Result, st.DB.Idle, st.DB.OpenConnections, st.Cleanups)
	}
	// The pool opens new connections on demand.
	if err := p.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// leakySource is a real pool whose errors carry its DSN, as a careless
// driver's might: the Checker must not let it through.
type leakySource struct {
	health.Source
	dsn string
}

func (s leakySource) Ping(ctx context.Context) error {
	return fmt.Errorf("ping %s: connection refused", s.dsn)
}

func (s leakySource) Stats() pool.Stats {
	st := s.Source.Stats()
	st.LastError.Message += " (dsn " + s.dsn + ")"
	return st
}

func (s leakySource) Cleanup(ctx context.Context) (pool.CleanupResult, error) {
	return pool.CleanupResult{}, errors.New("cleanup of host=127.0.0.1 user=postgres password=s3cretpw failed")
}

func TestNoResponseRevealsThePassword(t *testing.T) {
	base := testdb.Postgres(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "s3cretpw"
	u.User = url.UserPassword(u.User.Username(), pw) // trust auth ignores it
	dsn := u.String()
	p, err := pool.Open(t.Context(), pool.Config{DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	// A real failure, recorded as the pool's last error.
	err = p.Do(t.Context(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("SELECT * FROM httpapi_health_no_such_table").Error
	})
	if err == nil || p.Stats().LastError.At.IsZero() {
		t.Fatalf("no error recorded: %v", err)
	}

	for _, tc := range []struct {
		name string
		src  health.Source
	}{{"real pool", p}, {"leaky source", leakySource{Source: p, dsn: dsn}}} {
		t.Run(tc.name, func(t *testing.T) { assertNoPassword(t, tc.src, dsn, pw) })
	}
}

// The same without a database: a fake whose last error and ping error
// carry the DSN.
func TestNoResponseRevealsThePasswordFake(t *testing.T) {
	const pw = "s3cretpw"
	dsn := "postgres://postgres:" + pw + "@db.example.com:5432/app?sslmode=require"
	src := newFake()
	src.set(func(s *pool.Stats) {
		s.LastError = pool.ErrorInfo{Class: pool.Exhausted, Message: "too many clients", At: time.Now()}
	})
	assertNoPassword(t, leakySource{Source: src, dsn: dsn}, dsn, pw)
}

func assertNoPassword(t *testing.T, src health.Source, dsn, pw string) {
	t.Helper()
	hc := health.New(src, health.Config{Token: token})
	defer hc.Close()
	h := hc.Handler()
	bodies := []*httptest.ResponseRecorder{
		get(t, h, "/"),
		get(t, hc.ReadinessHandler(), "/"),
		post(h, "Bearer "+token, `{"action":"cleanup"}`),
		post(h, "Bearer "+pw, `{"action":"cleanup"}`),
		post(h, "Bearer "+token, `{"action":"`+dsn+`"}`),
		post(h, "Bearer "+token, `{"`+dsn+`":1}`),
	}
	r := decodeReport(t, bodies[0])
	if r.LastError == nil || r.LastError.Message == "" {
		t.Fatalf("lastError missing from %s", bodies[0].Body)
	}
	for i, rec := range bodies {
		if b := rec.Body.String(); strings.Contains(b, pw) || strings.Contains(b, dsn) {
			t.Errorf("response %d reveals the password: %s", i, b)
		}
	}
}

func FuzzHandlerBody(f *testing.F) {
	for _, s := range []string{`{"action":"cleanup"}`, `{"action":"drop"}`, `{}`, ``, `{"action":`, `[]`, `null`,
		`{"action":"cleanup"} x`, `{"action":"cleanup","a":1}`, `{"Action":"cleanup"}`, strings.Repeat(" ", 5000)} {
		f.Add(s)
	}
	src := newFake()
	hc := health.New(src, health.Config{Token: token})
	f.Cleanup(hc.Close)
	h := hc.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		before := src.cleanups.Load()
		rec := post(h, "Bearer "+token, body)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("non-JSON response %q: %v", rec.Body, err)
		}
		ran := src.cleanups.Load() - before
		req, perr := health.ParseActionRequest(strings.NewReader(body))
		valid := perr == nil && req.Action == "cleanup" && len(body) <= health.DefaultMaxBodyBytes
		switch rec.Code {
		case 200:
			if !valid || ran != 1 || m["action"] != "cleanup" {
				t.Fatalf("200 for %q (valid %v, ran %d)", body, valid, ran)
			}
		case 400, 413:
			if valid || ran != 0 || m["error"] == "" {
				t.Fatalf("%d for %q (valid %v, ran %d): %v", rec.Code, body, valid, ran, m)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

// A ping in flight when a cleanup runs must not store its pre-cleanup
// result over the cleanup's invalidation.
func TestCleanupNotUndoneByPingInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake()
		release := make(chan struct{})
		src.block = release
		hc := health.New(src, health.Config{Token: token})
		defer hc.Close()
		first := make(chan health.Report, 1)
		go func() { first <- hc.Check(context.Background()) }()
		synctest.Wait() // the ping is in flight
		if rec := post(hc.Handler(), "Bearer "+token, `{"action":"cleanup"}`); rec.Code != 200 {
			t.Fatalf("cleanup: %d %s", rec.Code, rec.Body)
		}
		cleanedAt := time.Now()
		time.Sleep(time.Millisecond) // fake time: the next ping is later than the cleanup
		close(release)
		<-first
		src.mu.Lock()
		src.block = nil
		src.mu.Unlock()
		r := hc.Check(t.Context())
		if src.pings.Load() != 2 || r.Cached || r.CheckedAt == nil || !r.CheckedAt.After(cleanedAt) {
			t.Fatalf("after cleanup: pings %d, cached %v, checkedAt %v; want a new ping after %v", src.pings.Load(), r.Cached, r.CheckedAt, cleanedAt)
		}
	})
}

// Refused POSTs come from whoever can reach the handler: at the default
// Info level they must not reach the log, or anyone could flood it.
func TestRefusedPOSTLogsAtDebug(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		hc := health.New(newFake(), health.Config{Token: token, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))})
		for range 100 {
			if rec := post(hc.Handler(), "Bearer nope", `{"action":"cleanup"}`); rec.Code != 401 {
				t.Fatalf("wrong token: %d", rec.Code)
			}
		}
		hc.Close()
		lines := strings.Count(buf.String(), "refused")
		switch {
		case level == slog.LevelInfo && buf.Len() != 0:
			t.Fatalf("at Info, 100 refusals wrote %q", buf.String())
		case level == slog.LevelDebug && (lines != 100 || !strings.Contains(buf.String(), "level=DEBUG")):
			t.Fatalf("at Debug, %d refusal lines: %q", lines, buf.String())
		}
	}
}
