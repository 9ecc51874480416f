package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sync/semaphore"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tollgate-db/tollgate/internal/redact"
	"github.com/tollgate-db/tollgate/pool"
)

// seedRows is how many rows the read workload picks from.
const seedRows = 1000

// target is one way of reaching the database: through tollgate, through
// plain GORM on database/sql (the baseline), or through pgx's own pool with
// no GORM at all (pgxpool, the limit anyone would compare against).
type target struct {
	mode    string
	appName string
	pool    *pool.Pool          // tollgate mode
	db      *gorm.DB            // baseline mode; pgxpool mode: GORM over the same pool, for setup and verification
	pgx     *pgxpool.Pool       // pgxpool mode
	sem     *semaphore.Weighted // semaphore mode, in front of db
	dialect string              // "postgres" or "sqlite"
}

// appName is the application_name of one mode of one run: every instance
// of the mode shares it, so that pg_stat_activity counts them together.
func appName(runID, mode string) string { return "lt_" + runID + "_" + mode }

// sqliteDSN is the embedded database, with a busy timeout so that
// concurrent writers wait for the lock rather than fail at once.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

// openTarget opens mode's connection pool. ctx bounds the first connection.
func openTarget(ctx context.Context, c *config, mode, runID string) (*target, error) {
	t := &target{mode: mode, appName: appName(runID, mode), dialect: "sqlite"}
	if c.postgres() {
		t.dialect = "postgres"
	}
	switch mode {
	case modeTollgate:
		var log *slog.Logger
		if c.Verbose {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		} else {
			log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		pc := pool.Config{
			DatabaseURL:     c.DatabaseURL,
			Profile:         pool.Production,
			MaxOpenConns:    c.Limit,
			MaxConcurrent:   c.MaxConcurrent,
			ApplicationName: t.appName,
			Logger:          log,
			OpTimeout:       c.OpTimeout,
			QueueTimeout:    c.QueueTimeout,
			Retry: pool.RetryConfig{
				Attempts: c.RetryAttempts, Backoff: c.RetryBackoff,
				MaxBackoff: c.RetryMaxDelay, Budget: c.RetryBudget,
			},
		}
		if !c.postgres() {
			pc.Dialector = sqlite.Open(sqliteDSN(c.SQLitePath))
		}
		p, err := pool.Open(ctx, pc)
		if err != nil {
			return nil, err
		}
		t.pool = p
	case modeBaseline, modeSem:
		if mode == modeSem {
			t.sem = semaphore.NewWeighted(int64(c.Limit))
		}
		var d gorm.Dialector
		if c.postgres() {
			s, err := pool.ParseURL(c.DatabaseURL) // strips connection_limit & co., which pgx would send to the server
			if err != nil {
				return nil, err
			}
			d = postgres.New(postgres.Config{Conn: openAs(s, t.appName)})
		} else {
			d = sqlite.Open(sqliteDSN(c.SQLitePath))
		}
		db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
		if err != nil {
			return nil, fmt.Errorf("baseline: open: %w", scrubErr(c, err))
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		if c.BaselineMaxOpen > 0 {
			sqlDB.SetMaxOpenConns(c.BaselineMaxOpen)
			sqlDB.SetMaxIdleConns(c.BaselineMaxOpen) // database/sql keeps only 2 by default: do not make the baseline churn
		}
		t.db = db
	case modePgxpool:
		s, err := pool.ParseURL(c.DatabaseURL)
		if err != nil {
			return nil, err
		}
		pc, err := pgxpool.ParseConfig("")
		if err != nil {
			return nil, err
		}
		cc := s.ConnConfig()
		cc.RuntimeParams["application_name"] = t.appName
		pc.ConnConfig = cc
		pc.MaxConns = int32(c.Limit)
		if c.BaselineMaxOpen > 0 {
			pc.MaxConns = int32(c.BaselineMaxOpen)
		}
		pc.MinConns = 0
		p, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, fmt.Errorf("pgxpool: open: %w", scrubErr(c, err))
		}
		if err := p.Ping(ctx); err != nil {
			p.Close()
			return nil, fmt.Errorf("pgxpool: ping: %w", scrubErr(c, err))
		}
		db, err := gorm.Open(postgres.New(postgres.Config{Conn: stdlib.OpenDBFromPool(p)}), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("pgxpool: gorm: %w", scrubErr(c, err))
		}
		t.pgx, t.db = p, db
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	return t, nil
}

// openAs opens what pgx parsed from the URL (Prisma's parameters taken
// out) as application_name, which the monitor uses to tell the modes apart.
func openAs(s pool.URLSettings, name string) *sql.DB {
	cc := s.ConnConfig()
	cc.RuntimeParams["application_name"] = name
	return stdlib.OpenDB(*cc)
}

// scrubErr masks the URL's secrets, and those of any DSN, in err's text.
func scrubErr(c *config, err error) error {
	return redact.Error(err, redact.Secrets(c.DatabaseURL)...)
}

// exec runs op the way the mode does (pop in pgxpool mode). For tollgate,
// wait is the time the call spent before op first ran (queue wait), and ok
// says it was measured.
func (t *target) exec(ctx context.Context, op func(ctx context.Context, db *gorm.DB) error, pop func(ctx context.Context, p *pgxpool.Pool) error, idempotent bool) (wait time.Duration, measured bool, err error) {
	if t.pgx != nil {
		return 0, false, pop(ctx, t.pgx)
	}
	if t.sem != nil {
		start := time.Now()
		if err := t.sem.Acquire(ctx, 1); err != nil {
			return 0, false, err
		}
		wait = time.Since(start)
		defer t.sem.Release(1)
		return wait, true, op(ctx, t.db.WithContext(ctx))
	}
	if t.pool == nil {
		return 0, false, op(ctx, t.db.WithContext(ctx))
	}
	start := time.Now()
	var first time.Time
	fn := func(ctx context.Context, db *gorm.DB) error {
		if first.IsZero() {
			first = time.Now() // fn runs on the caller's goroutine
		}
		return op(ctx, db)
	}
	if idempotent {
		err = t.pool.Do(ctx, fn, pool.Idempotent())
	} else {
		err = t.pool.Do(ctx, fn)
	}
	if !first.IsZero() {
		return first.Sub(start), true, err
	}
	return 0, false, err
}

// gorm is an unthrottled handle for setup and verification.
func (t *target) gorm() *gorm.DB {
	if t.pool != nil {
		return t.pool.Gorm()
	}
	return t.db
}

func (t *target) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if t.pool != nil {
		_ = t.pool.Close(ctx)
		return
	}
	if sqlDB, err := t.db.DB(); err == nil {
		_ = sqlDB.Close()
	}
	if t.pgx != nil {
		t.pgx.Close()
	}
}

// ensureTable creates the table and its seed rows when absent. The parent
// runs it once, before any instance starts.
func ensureTable(ctx context.Context, c *config) error {
	var d gorm.Dialector
	var ddl []string
	tb := c.Table
	if c.postgres() {
		s, err := pool.ParseURL(c.DatabaseURL)
		if err != nil {
			return err
		}
		d = postgres.New(postgres.Config{Conn: openAs(s, "lt_setup")})
		ddl = []string{
			`CREATE TABLE IF NOT EXISTS ` + tb + ` (id bigserial PRIMARY KEY, k bigint NOT NULL, run text NOT NULL,
				user_id integer NOT NULL, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
			`CREATE INDEX IF NOT EXISTS ` + tb + `_run_k ON ` + tb + ` (run, k)`,
			`INSERT INTO ` + tb + ` (k, run, user_id, payload)
				SELECT g, 'seed', 0, md5(g::text) FROM generate_series(1, ` + fmt.Sprint(seedRows) + `) g
				WHERE NOT EXISTS (SELECT 1 FROM ` + tb + ` WHERE run = 'seed')`,
		}
	} else {
		d = sqlite.Open(sqliteDSN(c.SQLitePath))
		ddl = []string{
			`CREATE TABLE IF NOT EXISTS ` + tb + ` (id INTEGER PRIMARY KEY AUTOINCREMENT, k INTEGER NOT NULL, run TEXT NOT NULL,
				user_id INTEGER NOT NULL, payload TEXT NOT NULL, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
			`CREATE INDEX IF NOT EXISTS ` + tb + `_run_k ON ` + tb + ` (run, k)`,
			`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM g WHERE n < ` + fmt.Sprint(seedRows) + `)
				INSERT INTO ` + tb + ` (k, run, user_id, payload)
				SELECT n, 'seed', 0, hex(randomblob(16)) FROM g WHERE NOT EXISTS (SELECT 1 FROM ` + tb + ` WHERE run = 'seed')`,
		}
	}
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return fmt.Errorf("setup: open: %w", scrubErr(c, err))
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	sqlDB.SetMaxOpenConns(1)
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if c.postgres() {
			// Serialise concurrent setups of the same table (two runs at once).
			if err := tx.Exec(`SELECT pg_advisory_xact_lock(hashtext(?))`, tb).Error; err != nil {
				return fmt.Errorf("setup: lock: %w", err)
			}
		}
		for _, q := range ddl {
			if err := tx.Exec(q).Error; err != nil {
				return fmt.Errorf("setup %s: %w", tb, scrubErr(c, err))
			}
		}
		return nil
	})
}

// statements are the workload's SQL for one dialect; pgxRead and pgxWrite
// are the same with pgx's $n placeholders, for the pgxpool mode.
type statements struct {
	read, write, verify string
	pgxRead, pgxWrite   string
	sleep               bool // read takes the server time as its first argument
}

func sqlFor(c *config, dialect string) statements {
	tb := c.Table
	s := statements{
		read:   `SELECT id, k, payload FROM ` + tb + ` WHERE run = 'seed' AND k = ?`,
		write:  `INSERT INTO ` + tb + ` (k, run, user_id, payload) VALUES (?, ?, ?, ?)`,
		verify: `SELECT k, count(*) AS n FROM ` + tb + ` WHERE run = ? GROUP BY k`,

		pgxRead:  `SELECT id, k, payload FROM ` + tb + ` WHERE run = 'seed' AND k = $1`,
		pgxWrite: `INSERT INTO ` + tb + ` (k, run, user_id, payload) VALUES ($1, $2, $3, $4)`,
	}
	if dialect == "postgres" && c.QueryMS > 0 {
		s.read = `SELECT t.id, t.k, t.payload FROM ` + tb + ` t CROSS JOIN (SELECT pg_sleep(?)) s WHERE t.run = 'seed' AND t.k = ?`
		s.pgxRead = `SELECT t.id, t.k, t.payload FROM ` + tb + ` t CROSS JOIN (SELECT pg_sleep($1)) s WHERE t.run = 'seed' AND t.k = $2`
		s.sleep = true
	}
	return s
}

// redacted is the URL without its secrets, for output.
func redacted(raw string) string { return redact.DSN(raw) }
