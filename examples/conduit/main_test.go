package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/internal/testdb"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunServesAndDrains runs the command as `go run` does, from the
// environment, on each database: it migrates, listens, answers, and on
// the end of its ctx drains and returns nil. Its log never holds the
// password of DATABASE_URL or the JWT secret.
func TestRunServesAndDrains(t *testing.T) {
	const password, secret = "hunter2-conduit-pw", "a-jwt-secret-of-at-least-32-bytes!!"
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string {
			u, err := url.Parse(testdb.WithDatabase(t, testdb.Postgres(t), testdb.CreateDatabase(t, "conduit_run")))
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(u.User.Username(), password) // the test server trusts loopback
			return u.String()
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Setenv("DATABASE_URL", b.url(t))
			t.Setenv("JWT_SECRET", secret)
			t.Setenv("ADDR", "127.0.0.1:0")
			t.Setenv("ADMIN_ADDR", "127.0.0.1:0")
			for _, env := range []string{"DIRECT_URL", "FLEET_BUDGET", "HEALTH_TOKEN"} {
				t.Setenv(env, "")
			}
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- run(ctx, log) }()

			api := waitListening(t, &logs, done)
			c := client{t: t, base: strings.TrimSuffix(api, "/api")}
			c.register("runner")
			c.want(200, "GET", "/articles", "")
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("run did not return within 30 s of its ctx ending")
			}
			for _, s := range []string{password, secret} {
				if strings.Contains(logs.String(), s) {
					t.Errorf("the log holds a secret:\n%s", logs.String())
				}
			}
			if !strings.Contains(logs.String(), "shutting down") {
				t.Errorf("no shutdown in the log:\n%s", logs.String())
			}
		})
	}
}

// waitListening polls the log until run reports its API URL, for at most
// 30 s, failing t when run ends first.
func waitListening(t *testing.T, logs *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, "conduit: listening") {
				continue
			}
			_, rest, _ := strings.Cut(line, "api=")
			api, _, _ := strings.Cut(rest, " ")
			return api
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before listening: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("run did not listen within 30 s:\n%s", logs.String())
	return ""
}
