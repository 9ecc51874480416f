package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/tollgate-db/tollgate/internal/redact"
	"github.com/tollgate-db/tollgate/internal/refused"
	"github.com/tollgate-db/tollgate/pool"
)

// Migrator applies the migrations of one Config to one database. Its
// methods are safe for concurrent use; Up, Down and Status of all
// migrators of a database are serialised by the lock, and the calls of
// one Migrator run one at a time: a call waits for the one in progress
// at most until its ctx ends or Config.LockTimeout passes (ErrLocked).
type Migrator struct {
	cfg     Config
	prov    *goose.Provider
	db      *sql.DB
	ownDB   bool // db was opened from DirectURL: Close closes it
	dialect string
	names   map[int64]string
	log     *slog.Logger
	secrets []string // texts scrubbed out of every error: the DirectURL password

	// slot is held by the method call in progress. goose's Provider
	// serialises its calls with a mutex that ignores ctx; waiting here
	// first keeps every wait bounded by ctx and LockTimeout.
	slot chan struct{}

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and prepares a Migrator for the database of p, or of
// cfg.DirectURL when set (p may then be nil). It reads the migrations'
// names but neither connects nor parses the SQL: errors in a file are
// reported by Up. Bad input returns an error wrapping ErrInvalidConfig.
// Errors never contain a password.
func New(p *pool.Pool, cfg Config) (*Migrator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Migrator{cfg: cfg, log: cfg.Logger.With("component", "tollgate/migrations"), slot: make(chan struct{}, 1)}

	if p != nil {
		switch name := p.Gorm().Dialector.Name(); name {
		case "postgres", "pgx":
			m.dialect = "postgres"
		case "sqlite", "sqlite3":
			m.dialect = "sqlite3"
		default:
			return nil, fmt.Errorf("%w: unsupported database %q (want postgres or sqlite)", ErrInvalidConfig, name)
		}
	}
	switch {
	case cfg.DirectURL != "":
		if m.dialect == "sqlite3" {
			return nil, fmt.Errorf("%w: DirectURL is set but the pool is SQLite", ErrInvalidConfig)
		}
		if err := m.openDirect(cfg.DirectURL); err != nil {
			return nil, err
		}
		m.dialect = "postgres"
	case p == nil:
		return nil, fmt.Errorf("%w: nil pool and no DirectURL", ErrInvalidConfig)
	default:
		m.db = p.SQL()
		if n := m.db.Stats().MaxOpenConnections; n == 1 && m.dialect == "postgres" && !cfg.DisableLock {
			return nil, fmt.Errorf("%w: the pool allows 1 connection and migrations need 2 (one for the lock): raise connection_limit or set DirectURL", ErrInvalidConfig)
		}
	}

	prov, err := m.provider()
	if err != nil {
		m.closeDB()
		return nil, m.scrub(err)
	}
	m.prov = prov
	m.names = make(map[int64]string)
	for _, s := range prov.ListSources() {
		if s.Path != "" {
			m.names[s.Version] = path.Base(s.Path)
		}
	}
	for _, g := range cfg.GoMigrations {
		m.names[g.Version] = goName(g)
	}
	return m, nil
}

// openDirect opens the DirectURL with the pgx driver, in unnamed-statement
// mode when it carries pgbouncer=true.
func (m *Migrator) openDirect(raw string) error {
	m.addSecretFrom(raw)
	s, err := pool.ParseURL(raw)
	if err != nil {
		return m.scrub(fmt.Errorf("%w: DirectURL: %w", ErrInvalidConfig, err))
	}
	cc := s.ConnConfig()
	if cc.Password != "" {
		m.secrets = append(m.secrets, cc.Password)
	}
	if s.PgBouncer {
		cc.DefaultQueryExecMode = pgx.QueryExecModeExec
		cc.StatementCacheCapacity = 0
		cc.DescriptionCacheCapacity = 0
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "tollgate-migrations"
	}
	m.db = stdlib.OpenDB(*cc)
	// One connection held for the run, one for the lock, one for its
	// heartbeat.
	m.db.SetMaxOpenConns(3)
	m.db.SetMaxIdleConns(3)
	m.db.SetConnMaxIdleTime(time.Minute)
	m.ownDB = true
	return nil
}

// addSecretFrom remembers the secrets written in a DSN.
func (m *Migrator) addSecretFrom(raw string) {
	m.secrets = append(m.secrets, redact.Secrets(raw)...)
}

func (m *Migrator) provider() (*goose.Provider, error) {
	cfg := m.cfg
	opts := []goose.ProviderOption{
		goose.WithTableName(cfg.Table),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(m.log),
		goose.WithVerbose(false),
	}
	gms := make([]*goose.Migration, 0, len(cfg.GoMigrations))
	for _, g := range cfg.GoMigrations {
		gms = append(gms, goose.NewGoMigration(g.Version, &goose.GoFunc{RunTx: g.Up}, &goose.GoFunc{RunTx: g.Down}))
	}
	if len(gms) > 0 {
		opts = append(opts, goose.WithGoMigrations(gms...))
	}
	if !cfg.DisableLock {
		var l lock.Locker = localLocker{timeout: cfg.LockTimeout}
		if m.dialect == "postgres" {
			var err error
			if l, err = newPostgresLocker(cfg.Table, cfg.LockTimeout, m.log); err != nil {
				return nil, err
			}
		}
		opts = append(opts, goose.WithLocker(l))
	}
	fsys := cfg.FS
	if fsys != nil && cfg.Dir != "." {
		sub, err := fs.Sub(fsys, cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("%w: Dir %q: %v", ErrInvalidConfig, cfg.Dir, err)
		}
		fsys = sub
	}
	dialect := database.DialectPostgres
	if m.dialect == "sqlite3" {
		dialect = database.DialectSQLite3
	}
	prov, err := goose.NewProvider(dialect, m.db, fsys, opts...)
	if errors.Is(err, goose.ErrNoMigrations) {
		return nil, fmt.Errorf("%w: no migrations: no <version>_<name>.sql file in FS directory %q and no GoMigrations", ErrInvalidConfig, cfg.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return prov, nil
}

// Up applies every pending migration in version order, each in its own
// transaction, and returns those applied; none when the database is up to
// date. On failure it returns the ones applied before together with a
// *MigrationError naming the failed migration. ctx bounds the wait for
// the lock and the whole run.
//
// A connection refused for lack of slots (pool.IsPoolExhausted: too many
// clients for the server or the role, a pooler's max_client_conn), as
// when many instances start at once, is waited out like another
// instance's lock: Up tries again with backoff for up to LockTimeout
// after the first refusal. Nothing ran on a refused connection, and the
// migrations applied before it stay applied.
func (m *Migrator) Up(ctx context.Context) ([]Result, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	var done []*goose.MigrationResult // applied by tries that were then refused a connection
	var w refused.Waiter
	for {
		res, err := m.upOnce(ctx)
		if err == nil {
			out := m.results(append(done, res...))
			for _, x := range out {
				m.log.InfoContext(ctx, "migration applied", "version", x.Version, "name", x.Name, "duration", x.Duration)
			}
			return out, nil
		}
		if !w.Again(ctx, err, m.cfg.LockTimeout, func(n int, in time.Duration) { m.warnRefused(ctx, "up", n, in, err) }) {
			return m.failed(ctx, "up", w.Final(ctx, err), done)
		}
		if pe := (*goose.PartialError)(nil); errors.As(err, &pe) {
			done = append(done, pe.Applied...)
		}
	}
}

func (m *Migrator) upOnce(ctx context.Context) ([]*goose.MigrationResult, error) {
	release, err := m.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return m.prov.Up(ctx)
}

// locked runs step holding the Migrator's slot (see acquire) until it
// succeeds or fails with anything but a connection refused for lack of
// slots, which it waits out for up to LockTimeout (see Up).
func (m *Migrator) locked(ctx context.Context, dir string, step func() error) error {
	return refused.Retry(ctx, m.cfg.LockTimeout, func(n int, in time.Duration, err error) { m.warnRefused(ctx, dir, n, in, err) },
		func() error {
			release, err := m.acquire(ctx)
			if err != nil {
				return err
			}
			defer release()
			return step()
		})
}

func (m *Migrator) warnRefused(ctx context.Context, dir string, n int, in time.Duration, err error) {
	m.log.WarnContext(ctx, "migrations: connection refused for lack of slots; trying again",
		"direction", dir, "refusals", n, "in", in, "error", m.scrub(err).Error())
}

// Down rolls back the most recently applied migration, in a transaction.
// It returns ErrNothingToRollBack when none is applied.
func (m *Migrator) Down(ctx context.Context) (Result, error) {
	if m.closed.Load() {
		return Result{}, ErrClosed
	}
	var res *goose.MigrationResult
	err := m.locked(ctx, "down", func() (err error) {
		res, err = m.prov.Down(ctx)
		return err
	})
	if errors.Is(err, goose.ErrNoNextVersion) {
		return Result{}, ErrNothingToRollBack
	}
	if err != nil {
		_, err = m.failed(ctx, "down", err, nil)
		return Result{}, err
	}
	r := m.results([]*goose.MigrationResult{res})[0]
	m.log.InfoContext(ctx, "migration rolled back", "version", r.Version, "name", r.Name, "duration", r.Duration)
	return r, nil
}

// Status lists every known migration in version order with whether it is
// applied. It takes the lock, so it waits while another instance migrates.
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	var st []*goose.MigrationStatus
	err := m.locked(ctx, "status", func() (err error) {
		st, err = m.prov.Status(ctx)
		return err
	})
	if err != nil {
		return nil, m.scrub(fmt.Errorf("migrations: status: %w", err))
	}
	out := make([]Status, 0, len(st))
	for _, s := range st {
		out = append(out, Status{
			Version:   s.Source.Version,
			Name:      m.name(s.Source.Version, s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Version returns the highest applied version, 0 when none. It does not
// take the database lock, but like every method it waits for a call of
// the same Migrator in progress. It creates the version table when it
// does not exist.
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	var cur int64
	err := m.locked(ctx, "version", func() (err error) {
		cur, _, err = m.prov.GetVersions(ctx)
		return err
	})
	if err != nil {
		return 0, m.scrub(fmt.Errorf("migrations: version: %w", err))
	}
	return cur, nil
}

// acquire takes the Migrator's slot, waiting at most until ctx ends or
// LockTimeout passes (ErrLocked); release gives it back.
func (m *Migrator) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("waiting for the lock: %w", err)
	}
	release = func() { <-m.slot }
	select {
	case m.slot <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(m.cfg.LockTimeout)
	defer t.Stop()
	select {
	case m.slot <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another call of this Migrator: %w", ctx.Err())
	case <-t.C:
		return nil, fmt.Errorf("%w (a call of this Migrator has been running for longer than LockTimeout %s)", ErrLocked, m.cfg.LockTimeout)
	}
}

// Close releases the DirectURL connections; the pool's are left to the
// pool. It is idempotent; later method calls return ErrClosed.
func (m *Migrator) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		m.closeErr = m.closeDB()
	})
	return m.closeErr
}

func (m *Migrator) closeDB() error {
	if m.ownDB && m.db != nil {
		return m.scrub(m.db.Close())
	}
	return nil
}

// failed turns a goose error into tollgate's: a *MigrationError when one
// migration failed, the lock's and the database's errors wrapped otherwise.
func (m *Migrator) failed(ctx context.Context, dir string, err error, done []*goose.MigrationResult) ([]Result, error) {
	var pe *goose.PartialError
	if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil {
		me := &MigrationError{
			Direction: dir,
			Version:   pe.Failed.Source.Version,
			Name:      m.name(pe.Failed.Source.Version, pe.Failed.Source.Path),
			Applied:   m.results(append(done, pe.Applied...)),
			Err:       pe.Err,
		}
		for _, r := range me.Applied {
			m.log.InfoContext(ctx, "migration applied", "version", r.Version, "name", r.Name, "duration", r.Duration)
		}
		err := m.scrub(me)
		m.log.ErrorContext(ctx, "migration failed", "direction", dir, "version", me.Version, "name", me.Name, "error", err.Error())
		return me.Applied, err
	}
	var applied []Result // before a try was refused; nil when none
	if len(done) > 0 {
		applied = m.results(done)
		for _, r := range applied {
			m.log.InfoContext(ctx, "migration applied", "version", r.Version, "name", r.Name, "duration", r.Duration)
		}
	}
	err = m.scrub(fmt.Errorf("migrations: %s: %w", dir, err))
	m.log.ErrorContext(ctx, "migrations failed", "direction", dir, "error", err.Error())
	return applied, err
}

func (m *Migrator) results(rs []*goose.MigrationResult) []Result {
	out := make([]Result, 0, len(rs))
	for _, r := range rs {
		if r == nil || r.Source == nil {
			continue
		}
		out = append(out, Result{
			Version:   r.Source.Version,
			Name:      m.name(r.Source.Version, r.Source.Path),
			Direction: r.Direction,
			Duration:  r.Duration,
			Empty:     r.Empty,
		})
	}
	return out
}

func (m *Migrator) name(v int64, p string) string {
	if n, ok := m.names[v]; ok {
		return n
	}
	if p != "" {
		return path.Base(p)
	}
	return fmt.Sprintf("version %d", v)
}

// scrub removes the DirectURL's secrets, and any other connection-string
// secret, from err's text, keeping the chain for errors.Is and errors.As.
func (m *Migrator) scrub(err error) error {
	if err == nil {
		return nil
	}
	return redact.Error(err, m.secrets...)
}
