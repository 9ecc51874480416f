// Command conduit is the RealWorld "Conduit" API (users and JWT auth,
// profiles and follows, articles with tags, favorites, comments and the
// feed) as a net/http server on tollgate's pool, repo and migrations. It
// serves under /api on ADDR and keeps the health report and Prometheus
// metrics on a separate admin listener (ADMIN_ADDR). It runs on an
// embedded SQLite file by default and on PostgreSQL when DATABASE_URL is
// set; it drains on SIGTERM or SIGINT. See README.md.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/tollgate-db/tollgate/internal/httpserve"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/glebarez/sqlite"

	"github.com/tollgate-db/tollgate/internal/dotenv"
	"github.com/tollgate-db/tollgate/pool"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// A copy of the repository's .env.example, when there is one; the
	// process's own variables win over it.
	if set, err := dotenv.Load(".env"); err != nil {
		log.Error("conduit: " + err.Error())
		os.Exit(1)
	} else if len(set) > 0 {
		log.Info("conduit: read .env", "set", set)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("conduit: " + err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	secret, err := jwtSecret(log)
	if err != nil {
		return err
	}
	p, done, err := openPool(ctx, os.Getenv("DATABASE_URL"), log)
	if err != nil {
		return err
	}
	defer done()
	if err := migrate(ctx, p, os.Getenv("DIRECT_URL"), log); err != nil {
		p.Close(context.Background())
		return fmt.Errorf("migrate: %w", err)
	}
	member, err := joinFleet(ctx, p, os.Getenv("FLEET_BUDGET"), log)
	if err != nil {
		p.Close(context.Background())
		return fmt.Errorf("fleet: %w", err)
	}
	// The fleet's row goes before the pool: the others take its share.
	closeDB := func(ctx context.Context) error {
		var err error
		if member != nil {
			err = member.Close(ctx)
		}
		return errors.Join(err, p.Close(ctx))
	}
	ln, err := listen("ADDR", "127.0.0.1:8080")
	if err != nil {
		closeDB(context.Background())
		return err
	}
	adminLn, err := listen("ADMIN_ADDR", "127.0.0.1:9090")
	if err != nil {
		ln.Close()
		closeDB(context.Background())
		return err
	}
	log.Info("conduit: listening", "api", "http://"+ln.Addr().String()+"/api",
		"admin_addr", adminLn.Addr().String(), "database", p.Target())
	srv, err := newServer(p, serverConfig{
		Secret:      secret,
		HealthToken: os.Getenv("HEALTH_TOKEN"),
		Logger:      log,
	})
	if err != nil {
		ln.Close()
		adminLn.Close()
		closeDB(context.Background())
		return err
	}
	defer srv.Close()
	return serve(ctx, closeDB, log, site{Listener: ln, Handler: srv}, site{Listener: adminLn, Handler: srv.Admin()})
}

// jwtSecret is JWT_SECRET, or a random key when it is unset: tokens then
// last only as long as the process, and instances do not accept each
// other's. The key is never logged.
func jwtSecret(log *slog.Logger) ([]byte, error) {
	if s := os.Getenv("JWT_SECRET"); s != "" {
		if len(s) < 32 {
			return nil, errors.New("JWT_SECRET must be at least 32 bytes")
		}
		return []byte(s), nil
	}
	log.Warn("conduit: JWT_SECRET is unset; signing tokens with a random key that dies with this process")
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
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

// openPool opens databaseURL, or an SQLite file in a new temporary
// directory when it is empty; done removes that directory. The URL's
// Prisma-style parameters (connection_limit, pool_timeout,
// pgbouncer=true) configure the pool.
func openPool(ctx context.Context, databaseURL string, log *slog.Logger) (*pool.Pool, func(), error) {
	cfg := pool.Config{DatabaseURL: databaseURL, Logger: log}
	done := func() {}
	if databaseURL == "" {
		dir, err := os.MkdirTemp("", "tollgate-conduit-")
		if err != nil {
			return nil, nil, err
		}
		done = func() { os.RemoveAll(dir) }
		// SQLite has one writer: one connection, so that writers queue in
		// the executor (FIFO) instead of failing with SQLITE_BUSY.
		// foreign_keys makes ON DELETE CASCADE work; it is per connection.
		cfg.Dialector = sqlite.Open(filepath.Join(dir, "conduit.db") +
			"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
		cfg.MaxOpenConns, cfg.MaxConcurrent = 1, 1
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
// drains in order (see httpserve.Run): requests first, then closeDB.
func serve(ctx context.Context, closeDB func(context.Context) error, log *slog.Logger, sites ...site) error {
	return httpserve.Run(ctx, "conduit", log, closeDB, sites...)
}
