package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tollgate-db/tollgate/fleet"
	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

// schema holds the versioned migrations, one directory per dialect.
//
//go:embed schema
var schema embed.FS

// migrate applies the migrations. Every instance runs it at start-up; the
// migrator's lock (a table lease, which holds behind a transaction pooler
// too) lets one apply them while the others wait. directURL, when set, is
// a direct connection for the migrations (Prisma's directUrl).
func migrate(ctx context.Context, p *pool.Pool, directURL string, log *slog.Logger) error {
	m, err := migrations.New(p, migrations.Config{
		FS:        schema,
		Dir:       "schema/" + p.Gorm().Dialector.Name(), // postgres or sqlite
		Table:     "conduit_schema_migrations",
		DirectURL: directURL,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	defer m.Close()
	return retryExhausted(ctx, log, "migrations", func() error {
		_, err := m.Up(ctx)
		return err
	})
}

// joinFleet makes this instance a member of the fleet "conduit" sharing
// budget connections (FLEET_BUDGET: the pooler's client slots, say) with
// every other instance; "" means no fleet (nil member). Call it after
// migrate: it lowers the pool to one connection until its share comes,
// and the migrator needs two.
func joinFleet(ctx context.Context, p *pool.Pool, budget string, log *slog.Logger) (*fleet.Member, error) {
	if budget == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(budget)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("FLEET_BUDGET must be a positive integer")
	}
	var m *fleet.Member
	err = retryExhausted(ctx, log, "fleet", func() (err error) {
		m, err = fleet.Join(ctx, p, fleet.Config{Name: "conduit", Budget: n, Logger: log})
		return err
	})
	return m, err
}

// retryExhausted runs fn until it succeeds, fails with anything but pool
// exhaustion, or ctx ends, backing off between tries.
//
// The migrator and the fleet's heartbeat talk to the pool's *sql.DB
// directly (goose needs one; the heartbeat must not queue behind the
// calls whose share it decides), so they get none of the executor's
// retries: when several instances start at once behind a pooler with few
// client slots (the seed's session-mode PgBouncer), a connect can be
// refused with "max_client_conn", and it is retried here.
func retryExhausted(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil || !pool.IsPoolExhausted(err) {
			return err
		}
		log.Warn("conduit: "+what+": the database is out of connections; retrying", "in", backoff)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff + rand.N(backoff)):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
