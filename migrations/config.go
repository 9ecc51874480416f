package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultTable       = "tollgate_schema_migrations"
	DefaultLockTimeout = 60 * time.Second
)

// Config configures a [Migrator]. The zero value is valid except that
// FS or GoMigrations must supply at least one migration.
type Config struct {
	// FS holds the SQL migrations, usually an embed.FS: files named
	// <version>_<name>.sql with goose annotations (-- +goose Up,
	// -- +goose Down, -- +goose StatementBegin/End,
	// -- +goose NO TRANSACTION). Default: none.
	FS fs.FS
	// Dir is the directory inside FS that holds the files. Default: ".".
	Dir string
	// GoMigrations are migrations written in Go; their versions must not
	// collide with each other nor with the SQL files'. Default: none.
	GoMigrations []Migration
	// DirectURL is Prisma's directUrl: a PostgreSQL URL of a direct
	// connection (not a transaction pooler) used for migrations only.
	// Prisma-style parameters are stripped as for pool.Config.DatabaseURL,
	// pgbouncer=true included. It may be set with a nil pool. Default: the
	// pool's own connections.
	DirectURL string
	// Table is the version table, optionally schema-qualified; the lock
	// table is Table + "_lock". Letters, digits and underscores only. It is
	// lower-cased before use, as PostgreSQL folds an unquoted name, so
	// "SchemaVersions" names the table schemaversions (goose creates the
	// table unquoted but looks it up by the name as given).
	// Default: "tollgate_schema_migrations".
	Table string
	// DisableLock turns the migration lock off: only for a database that
	// exactly one process migrates. Default: false (locked; a table lease
	// on PostgreSQL, a process-wide mutex on SQLite).
	DisableLock bool
	// LockTimeout bounds the wait for the lock, and the wait for another
	// call of the same Migrator in progress; past it Up, Down and Status
	// (and Version, which waits only for the latter) return ErrLocked.
	// It also bounds, from the first refusal, the retries of a call whose
	// connection the server or a pooler refused for lack of slots (see
	// Migrator.Up); past it the call returns that refusal.
	// Default: 60s.
	LockTimeout time.Duration
	// Logger receives one Info record per migration run and one Error
	// record per failure. Default: slog.Default().
	Logger *slog.Logger
}

// Migration is a migration written in Go. Up and Down run in a
// transaction, which also records the version; return an error to roll
// both back.
type Migration struct {
	// Version orders the migrations; it must be positive and unique.
	Version int64
	// Name appears in results, logs and errors. Default: "go migration".
	Name string
	// Up applies the migration. Required.
	Up func(ctx context.Context, tx *sql.Tx) error
	// Down reverts it. Default: nil, a no-op that only removes the version.
	Down func(ctx context.Context, tx *sql.Tx) error
}

// Result is one migration applied or rolled back.
type Result struct {
	Version   int64
	Name      string
	Direction string // "up" or "down"
	Duration  time.Duration
	// Empty is true when the migration had no statement in that direction.
	Empty bool
}

// Status is the state of one known migration.
type Status struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when not applied
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,50}(\.[A-Za-z_][A-Za-z0-9_]{0,50})?$`)

// withDefaults validates cfg and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	if c.FS == nil && len(c.GoMigrations) == 0 {
		return c, fmt.Errorf("%w: no migrations: set FS or GoMigrations", ErrInvalidConfig)
	}
	if c.Dir == "" {
		c.Dir = "."
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if !identRE.MatchString(c.Table) {
		return c, fmt.Errorf("%w: table name %q: want letters, digits and underscores, optionally schema.table", ErrInvalidConfig, c.Table)
	}
	c.Table = strings.ToLower(c.Table)
	if c.LockTimeout < 0 {
		return c, fmt.Errorf("%w: LockTimeout %s is negative", ErrInvalidConfig, c.LockTimeout)
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	seen := make(map[int64]int, len(c.GoMigrations))
	for i, m := range c.GoMigrations {
		switch {
		case m.Version < 1:
			return c, fmt.Errorf("%w: Go migration %d (%q): version %d must be positive", ErrInvalidConfig, i, m.Name, m.Version)
		case m.Up == nil:
			return c, fmt.Errorf("%w: Go migration version %d (%q): Up is nil", ErrInvalidConfig, m.Version, m.Name)
		}
		if j, dup := seen[m.Version]; dup {
			return c, fmt.Errorf("%w: duplicate version %d: Go migrations %q and %q", ErrInvalidConfig, m.Version, c.GoMigrations[j].Name, m.Name)
		}
		seen[m.Version] = i
	}
	return c, nil
}

// goName is the display name of a Go migration.
func goName(m Migration) string {
	if m.Name != "" {
		return m.Name
	}
	return "go migration"
}
