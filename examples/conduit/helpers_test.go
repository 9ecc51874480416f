package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// A command's tests live in package main: nothing can import a command.

var quiet = slog.New(slog.DiscardHandler)

// testSecret signs the tests' tokens.
var testSecret = []byte("conduit-test-secret-0123456789abcdef")

// backends open a fresh, migrated database of each kind: an SQLite file,
// and a new PostgreSQL database (dropped when t ends).
var backends = []struct {
	name string
	open func(t *testing.T) *pool.Pool
}{
	{"sqlite", func(t *testing.T) *pool.Pool { return openMigrated(t, "") }},
	{"postgres", func(t *testing.T) *pool.Pool {
		admin := testdb.Postgres(t)
		return openMigrated(t, testdb.WithDatabase(t, admin, testdb.CreateDatabase(t, "conduit")))
	}},
}

// openMigrated opens url (SQLite when empty) as the command does, applies
// the migrations and closes the pool when t ends.
func openMigrated(t *testing.T, url string) *pool.Pool {
	t.Helper()
	p, done, err := openPool(t.Context(), url, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close(context.Background())
		done()
	})
	if err := migrate(t.Context(), p, "", quiet); err != nil {
		t.Fatal(err)
	}
	return p
}

// startServer serves the API over p on a free loopback port until t ends
// and returns its base URL (http://127.0.0.1:port).
func startServer(t *testing.T, p *pool.Pool) string {
	t.Helper()
	srv, err := newServer(p, serverConfig{Secret: testSecret, BcryptCost: bcrypt.MinCost, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		srv.Close()
	})
	return "http://" + ln.Addr().String()
}

// moduleRoot is the directory of the module's go.mod, found upward from
// the test's working directory (the package directory).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// need skips t with msg, or fails it under CI=true, where everything the
// tests need must be there.
func need(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and " + msg)
	}
	t.Skip(msg)
}
