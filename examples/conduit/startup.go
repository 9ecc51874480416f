package main

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"strconv"

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
// too) lets one apply them while the others wait, and a connection refused
// for lack of slots (instances starting at once behind a pooler with few
// client slots) is waited out by the migrator. directURL, when set, is a
// direct connection for the migrations (Prisma's directUrl).
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
	_, err = m.Up(ctx)
	return err
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
	return fleet.Join(ctx, p, fleet.Config{Name: "conduit", Budget: n, Logger: log})
}
