// Command httpapi is a small REST service on tollgate: a users resource
// through package repo, the seed's /api/health/database, liveness,
// readiness and Prometheus metrics. It runs on an embedded SQLite file by
// default and on PostgreSQL when DATABASE_URL is set; it drains on
// SIGTERM or SIGINT. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"

	"github.com/tollgate-db/tollgate/pool"
)

// shutdownTimeout bounds the drain: in-flight requests, then pool calls.
const shutdownTimeout = 20 * time.Second

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("httpapi: " + err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	p, done, err := openPool(ctx, os.Getenv("DATABASE_URL"), log)
	if err != nil {
		return err
	}
	defer done()
	if err := migrate(ctx, p); err != nil {
		p.Close(context.Background())
		return fmt.Errorf("migrate: %w", err)
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.Close(context.Background())
		return err
	}
	log.Info("httpapi: listening", "addr", ln.Addr().String(), "database", p.Target())
	srv := newServer(p, serverConfig{HealthToken: os.Getenv("HEALTH_TOKEN"), Logger: log})
	defer srv.Close()
	return serve(ctx, ln, srv, p, log)
}

// openPool opens DATABASE_URL, or an SQLite file in a new temporary
// directory when it is empty; done removes that directory.
func openPool(ctx context.Context, databaseURL string, log *slog.Logger) (*pool.Pool, func(), error) {
	cfg := pool.Config{DatabaseURL: databaseURL, Logger: log}
	done := func() {}
	if databaseURL == "" {
		dir, err := os.MkdirTemp("", "tollgate-httpapi-")
		if err != nil {
			return nil, nil, err
		}
		done = func() { os.RemoveAll(dir) }
		// WAL lets readers run beside the one writer; busy_timeout makes
		// concurrent writers wait instead of failing with SQLITE_BUSY.
		cfg.Dialector = sqlite.Open(filepath.Join(dir, "httpapi.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	}
	p, err := pool.Open(ctx, cfg)
	if err != nil {
		done()
		return nil, nil, err
	}
	return p, done, nil
}

// serve answers on ln until ctx ends, then shuts down in order: stop
// accepting and wait for in-flight requests (http.Server.Shutdown), then
// drain and close the pool.
func serve(ctx context.Context, ln net.Listener, h http.Handler, p *pool.Pool, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("httpapi: shutting down")
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serveErr == nil {
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			serveErr = e
		}
	}
	return errors.Join(serveErr, err, p.Close(sctx))
}
