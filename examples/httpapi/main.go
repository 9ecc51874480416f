// Command httpapi is a small REST service on tollgate: a users resource
// through package repo, liveness and readiness on the public listener
// (ADDR), the seed's /api/health/database and Prometheus metrics on an
// admin listener (ADMIN_ADDR). It runs on an embedded SQLite file by
// default and on PostgreSQL when DATABASE_URL is set; it drains on
// SIGTERM or SIGINT. See README.md.
package main

import (
	"context"
	"fmt"
	"github.com/tollgate-db/tollgate/internal/httpserve"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-db/tollgate/internal/dotenv"
	"github.com/tollgate-db/tollgate/pool"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// A copy of the repository's .env.example, when there is one; the
	// process's own variables win over it.
	set, err := dotenv.Load(".env")
	if err != nil {
		log.Error("httpapi: " + err.Error())
		os.Exit(1)
	}
	// LOG_LEVEL=debug shows every SQL statement in the development profile.
	level := slog.LevelInfo
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			log.Error("httpapi: LOG_LEVEL: want debug, info, warn or error", "got", v)
			os.Exit(2)
		}
	}
	log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if len(set) > 0 {
		log.Info("httpapi: read .env", "set", set)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("httpapi: " + err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	tel, err := setupTelemetry(os.Getenv, reg, os.Stderr)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("httpapi: telemetry shutdown: " + err.Error())
		}
	}()
	p, done, err := openPool(ctx, os.Getenv("DATABASE_URL"), log, tel.Tracer())
	if err != nil {
		return err
	}
	defer done()
	if err := tel.Observe(p); err != nil {
		p.Close(context.Background())
		return err
	}
	if err := migrate(ctx, p); err != nil {
		p.Close(context.Background())
		return fmt.Errorf("migrate: %w", err)
	}
	ln, err := listen("ADDR", "127.0.0.1:8080")
	if err != nil {
		p.Close(context.Background())
		return err
	}
	adminLn, err := listen("ADMIN_ADDR", "127.0.0.1:9090")
	if err != nil {
		ln.Close()
		p.Close(context.Background())
		return err
	}
	log.Info("httpapi: listening", "addr", ln.Addr().String(), "admin_addr", adminLn.Addr().String(), "database", p.Target())
	srv := newServer(p, serverConfig{HealthToken: os.Getenv("HEALTH_TOKEN"), Logger: log, Registry: reg})
	defer srv.Close()
	return serve(ctx, p, log, site{Listener: ln, Handler: srv}, site{Listener: adminLn, Handler: srv.Admin()})
}

// listen listens on the address in the environment variable env, or on
// def when it is unset.
func listen(env, def string) (net.Listener, error) {
	addr := os.Getenv(env)
	if addr == "" {
		addr = def
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	return ln, nil
}

// openPool opens DATABASE_URL, or an SQLite file in a new temporary
// directory when it is empty; done removes that directory. tr, which may
// be nil, observes the pool's calls (OpenTelemetry, see telemetry.go).
func openPool(ctx context.Context, databaseURL string, log *slog.Logger, tr pool.Tracer) (*pool.Pool, func(), error) {
	cfg := pool.Config{DatabaseURL: databaseURL, Logger: log, Tracer: tr}
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

// site is one listener and the handler it serves.
type site = httpserve.Site

// serve answers on every site until ctx ends or one of them fails, then
// drains in order (see httpserve.Run): requests first, then the pool.
func serve(ctx context.Context, p *pool.Pool, log *slog.Logger, sites ...site) error {
	return httpserve.Run(ctx, "httpapi", log, p.Close, sites...)
}
