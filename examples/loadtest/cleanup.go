package main

import (
	"context"
	"os"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tollgate-db/tollgate/fleet"
	"github.com/tollgate-db/tollgate/pool"
)

// prepareSQLite gives a run without -sqlite a file of its own in the temp
// directory, so that two users (or two runs) never share one, and returns
// what removes it afterwards.
func prepareSQLite(c *config) (cleanup func(), err error) {
	if c.postgres() || c.SQLitePath != "" {
		return func() {}, nil
	}
	f, err := os.CreateTemp("", "tollgate-loadtest-*.db")
	if err != nil {
		return nil, err
	}
	c.SQLitePath = f.Name()
	f.Close()
	return func() {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			_ = os.Remove(c.SQLitePath + suffix)
		}
	}, nil
}

// cleanupRun deletes what the run left in the database: its rows in the
// workload table (the seed rows stay for the next run) and, after a fleet
// run, the fleet's rows (a killed instance's row would otherwise wait for
// its TTL). The tables stay: -table names one, and another run may be
// using them.
func cleanupRun(ctx context.Context, c *config, runID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var d gorm.Dialector
	if c.postgres() {
		s, err := pool.ParseURL(c.DatabaseURL)
		if err != nil {
			return
		}
		d = postgres.New(postgres.Config{Conn: openAs(s, "lt_cleanup")})
	} else {
		d = sqlite.Open(sqliteDSN(c.SQLitePath))
	}
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
		sqlDB.SetMaxOpenConns(1)
	}
	_ = db.WithContext(ctx).Exec(`DELETE FROM `+c.Table+` WHERE run LIKE ?`, runID+"/%").Error
	cleanupFleet(ctx, c, runID)
}

// cleanupFleet deletes a fleet run's rows over the monitor connection.
func cleanupFleet(ctx context.Context, c *config, runID string) {
	if c.FleetBudget == 0 || c.MonitorURL == "" {
		return
	}
	s, err := pool.ParseURL(c.MonitorURL)
	if err != nil {
		return
	}
	db := openAs(s, "lt_cleanup")
	defer db.Close()
	table := c.FleetTable
	if table == "" {
		table = fleet.DefaultTable
	}
	_, _ = db.ExecContext(ctx, `DELETE FROM `+table+` WHERE fleet = $1`, "lt_"+runID)
}
