package pool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Pool is a GORM database behind one fair, throttled executor. Every call
// made through Do or Transaction waits its turn in FIFO order, runs under a
// timeout and is retried only when that is safe. It is safe for concurrent
// use; share one per process.
type Pool struct {
	cfg  Config
	url  URLSettings // zero when a Dialector was given
	db   *gorm.DB
	sql  *sql.DB
	exec *Executor
	log  *slog.Logger

	idleMu  sync.Mutex // serialises changes of the idle cap
	idleCap int        // the idle cap in force now
	openCap int        // database/sql's MaxOpenConns in force now, under idleMu
	ceilMu  sync.Mutex // serialises SetCeiling

	cleanups  atomic.Int64
	suspectAt atomic.Int64 // unix ns of the last dropSuspectIdle
	counts    poolCounts
	lastErrMu sync.Mutex
	lastErr   ErrorInfo

	closeOnce sync.Once
	closeErr  error
}

// Open validates cfg, opens the database and applies the limits. ctx
// bounds the first connection, made to fail early on a wrong URL or a
// server that is down. Errors never contain the password.
func Open(ctx context.Context, cfg Config) (*Pool, error) {
	var u *URLSettings
	if cfg.Dialector == nil {
		if cfg.DatabaseURL == "" {
			cfg.DatabaseURL = os.Getenv("DATABASE_URL")
		}
		s, err := ParseURL(cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		u = &s
	}
	cfg, err := cfg.withDefaults(u)
	if err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, log: cfg.Logger.With("component", "tollgate/pool")}
	if u != nil {
		p.url = *u
		p.cfg.DatabaseURL = u.Redacted // the Pool keeps no secret in plain sight
	}

	gcfg := &gorm.Config{SkipDefaultTransaction: true}
	if cfg.Gorm != nil {
		c := *cfg.Gorm
		gcfg = &c
	}
	if gcfg.Logger == nil {
		gcfg.Logger = p.queryLogger()
	}
	dialector := cfg.Dialector
	if dialector == nil {
		sqlDB, err := p.openPostgres()
		if err != nil {
			return nil, err
		}
		dialector = postgres.New(postgres.Config{Conn: sqlDB})
	}
	if cfg.PgBouncer {
		gcfg.PrepareStmt = false
	}
	gcfg.DisableAutomaticPing = true // Open pings below, under ctx and the executor
	db, err := gorm.Open(dialector, gcfg)
	if err != nil {
		return nil, p.sanitize(fmt.Errorf("pool: open: %w", err))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("pool: open: %w", err)
	}
	if cfg.Dialector != nil { // no pgx tracer of ours: GORM's callbacks say what was sent
		if err := registerSentCallbacks(db); err != nil {
			return nil, fmt.Errorf("pool: open: %w", err)
		}
	}
	p.db, p.sql = db, sqlDB
	sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
	sqlDB.SetMaxIdleConns(cfg.MaxIdleConns)
	sqlDB.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	sqlDB.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
	p.idleCap, p.openCap = cfg.MaxIdleConns, cfg.MaxOpenConns

	p.exec = newExecutor(ExecutorConfig{
		MaxConcurrent: cfg.MaxConcurrent, MinConcurrent: cfg.MinConcurrent, MaxQueue: cfg.MaxQueue,
		QueueTimeout: cfg.QueueTimeout, OpTimeout: cfg.OpTimeout, Retry: cfg.Retry,
		Classify:      classifyAnswer,
		Tracer:        cfg.Tracer,
		OnExhausted:   p.onExhausted,
		OnLimitChange: p.onLimitChange,
		OnRetry:       p.onRetry,
		OnError: func(ev ErrorEvent) {
			if isDatabaseFailure(ev.Class) {
				p.counts.dbFailures.Add(1)
			}
			p.noteErr(ev.Class, ev.Err)
			if ev.Class == ConnectionLost {
				p.dropSuspectIdle()
			}
		},
	})

	pingCtx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
	defer cancel()
	if err := p.exec.Run(pingCtx, func(ctx context.Context) error { return sqlDB.PingContext(ctx) }, Idempotent()); err != nil {
		sqlDB.Close()
		return nil, p.sanitize(fmt.Errorf("pool: open %s: %w", p.Target(), err))
	}
	return p, nil
}

// openPostgres builds the *sql.DB over pgx's stdlib with the URL's
// settings.
func (p *Pool) openPostgres() (*sql.DB, error) {
	return stdlib.OpenDB(*driverConfig(p.url, p.cfg)), nil
}

// driverConfig is the pgx configuration the pool connects with: what pgx
// parsed from the URL minus Prisma's parameters, then transaction-pooler
// mode, statement cache and application name.
func driverConfig(u URLSettings, cfg Config) *pgx.ConnConfig {
	cc := u.ConnConfig()
	switch {
	case cfg.PgBouncer:
		// Unnamed statements only: a transaction pooler hands each
		// transaction a different server connection, where a named
		// statement prepared earlier does not exist (42P05 / 26000).
		cc.DefaultQueryExecMode = pgx.QueryExecModeExec
		cc.StatementCacheCapacity = 0
		cc.DescriptionCacheCapacity = 0
	case u.StatementCacheSize == 0:
		cc.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
		cc.StatementCacheCapacity = 0
	case u.StatementCacheSize > 0:
		cc.StatementCacheCapacity = u.StatementCacheSize
	}
	cc.RuntimeParams["application_name"] = cfg.ApplicationName
	cc.Tracer = newSentTracer(cc.Tracer) // marks what each attempt sent (senttracer.go)
	if qt, ok := cfg.Tracer.(pgx.QueryTracer); ok {
		// Statement-level telemetry (otelpool's statement spans and
		// connect times), after any tracer of the pool's own.
		cc.Tracer = chainQueryTracer(cc.Tracer, qt)
	}
	return cc
}

// Do runs fn with a *gorm.DB bound to a ctx that carries the operation
// deadline. It waits for a slot in FIFO order unless ctx carries a
// transaction of this pool (see Transaction), in which case fn runs on that
// transaction at once, takes no slot and is never retried on its own.
//
// ctx bounds the whole call: the wait, every attempt and every backoff.
// Without options a call is retried only when nothing reached the server or
// the server refused the connection; Idempotent allows retries after a lost
// connection too.
func (p *Pool) Do(ctx context.Context, fn func(ctx context.Context, db *gorm.DB) error, opts ...CallOption) error {
	if tx := p.txFrom(ctx); tx != nil {
		err := fn(ctx, tx.WithContext(p.stmtCtx(ctx)))
		if err != nil && ctx.Err() == nil { // once ctx ended, the Transaction's end says what it was
			p.noteErr(classifyAnswer(err), err)
		}
		return explain(err) // counted by the Transaction's endCall
	}
	return p.endCall(explain(p.exec.Run(ctx, func(ctx context.Context) error {
		ctx, run := startAttempt(ctx) // attempt.go: what the attempt sent, timeouts
		return run.finish(fn(ctx, p.db.WithContext(p.stmtCtx(ctx))))
	}, opts...)))
}

// classifyAnswer is Classify for the executor's accounting: a query that
// found no row got an answer from the database, which is a success for
// the pool's counters, its retry budget and its adaptive limit.
func classifyAnswer(err error) Class {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return OK
	}
	return Classify(err)
}

// explain adds the fix to errors whose cause is a configuration mistake.
func explain(err error) error {
	if err != nil && Classify(err) == PoolerMismatch {
		return fmt.Errorf("%w (named prepared statements do not survive a transaction pooler: add pgbouncer=true to the database URL)", err)
	}
	return err
}

// Gorm returns the underlying *gorm.DB. Calls made on it bypass the
// executor: no queue, no limit, no retries, no timeout. It is the escape
// hatch for what the Pool does not cover (AutoMigrate in a demo, say), not
// for request traffic.
func (p *Pool) Gorm() *gorm.DB { return p.db }

// SQL returns the underlying *sql.DB, with the same warning as Gorm.
func (p *Pool) SQL() *sql.DB { return p.sql }

// Profile is the profile in force.
func (p *Pool) Profile() Profile { return p.cfg.Profile }

// Config returns the effective configuration, defaults filled in, with
// the password removed from DatabaseURL.
func (p *Pool) Config() Config { return p.cfg }

// Target names the database for logs and errors, without the password:
// the redacted URL, or the dialector's name.
func (p *Pool) Target() string {
	if p.url.Redacted != "" {
		return p.url.Redacted
	}
	if p.cfg.Dialector != nil {
		return p.cfg.Dialector.Name()
	}
	return "database"
}

// Ping checks the database over a pooled connection, bypassing the
// queue; ctx bounds it. When every connection is busy, database/sql makes
// it wait for one: give ctx a short deadline (the health package does).
func (p *Pool) Ping(ctx context.Context) error {
	err := p.sanitize(p.sql.PingContext(ctx))
	if err != nil {
		p.noteErr(Classify(err), err)
	}
	return err
}

// Close shuts the pool down gracefully, like http.Server.Shutdown: new
// calls fail with ErrClosed at once, the calls already queued still run,
// and Close returns nil once they are all done. When ctx ends first, the
// calls still queued fail with ErrClosed and Close returns ctx's error,
// after the calls running have finished (each is bounded by its operation
// timeout). Then it closes the connections. It is idempotent; later calls
// return the first call's result.
func (p *Pool) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		err := p.exec.Close(ctx)
		if cerr := p.sql.Close(); err == nil {
			err = cerr
		}
		p.closeErr = err
	})
	return p.closeErr
}

// onLimitChange runs on the goroutine of the call (or SetCeiling) that
// changed the limit.
func (p *Pool) onLimitChange(ev LimitChangeEvent) {
	p.log.Info("tollgate: concurrency limit changed", "from", ev.Old, "to", ev.New, "reason", string(ev.Reason))
	p.setIdleCap()
}

// onExhausted runs on the goroutine of the call whose attempt met pool
// exhaustion, after its slot was released: the cleanup is inline there.
func (p *Pool) onExhausted(ev ExhaustedEvent) {
	if ev.Probe { // the limit stepped over the edge it knew of, and went back
		p.log.Info("tollgate: probe above the connection budget refused", "target", p.Target(), "limit", ev.Limit)
		return
	}
	p.log.Warn("tollgate: connection pool exhausted", "target", p.Target(), "limit", ev.Limit)
	if _, err := p.Cleanup(context.Background()); err != nil {
		p.log.Warn("tollgate: cleanup after exhaustion failed", "err", err)
	}
}

func (p *Pool) onRetry(ev RetryEvent) {
	p.log.Debug("tollgate: retrying", "attempt", ev.Attempt, "class", ev.Class.String(), "err", p.sanitize(ev.Err), "backoff", ev.Backoff)
}

// setIdleCap makes database/sql keep no more idle connections than the
// executor's limit allows to be used, nor more than the open cap: lowering
// it closes the excess at once. It reads the limit rather than taking it
// from the callback, so that two changes reported out of order still leave
// the cap right.
func (p *Pool) setIdleCap() {
	p.idleMu.Lock()
	defer p.idleMu.Unlock()
	p.idleCap = min(p.exec.Limit(), p.cfg.MaxIdleConns, p.openCap)
	p.sql.SetMaxIdleConns(p.idleCap)
}

// SetCeiling sets the connections this pool may hold from now on, conns ≥ 1:
// database/sql's MaxOpenConns becomes min(conns, Config.MaxOpenConns), its
// idle cap at most that, and the executor's ceiling min(conns,
// Config.MaxConcurrent) (see [Executor.SetCeiling]). Idle connections above
// the new caps are closed at once; calls in flight finish on theirs. Package
// fleet calls it with this instance's share of a budget.
func (p *Pool) SetCeiling(conns int) error {
	if conns < 1 {
		return fmt.Errorf("%w: SetCeiling(%d): conns must be at least 1", ErrInvalidConfig, conns)
	}
	p.ceilMu.Lock()
	defer p.ceilMu.Unlock()
	open := min(conns, p.cfg.MaxOpenConns)
	p.idleMu.Lock()
	raise := open > p.openCap
	p.openCap = open
	p.idleMu.Unlock()
	if raise { // room in database/sql first, then admit more calls
		p.sql.SetMaxOpenConns(open)
	}
	p.exec.SetCeiling(min(conns, p.cfg.MaxConcurrent))
	if !raise { // fewer calls admitted first, then fewer connections
		p.sql.SetMaxOpenConns(open)
	}
	p.setIdleCap()
	return nil
}

// suspectIdleEvery bounds how often a lost connection empties the idle
// pool: one server restart or mass termination breaks many at once.
const suspectIdleEvery = 100 * time.Millisecond

// dropSuspectIdle closes the idle connections after one was lost mid-call:
// whatever ended it (a restart, pg_terminate_backend, a pooler or network
// drop) has most likely ended its idle siblings too, and a retry handed one
// of them would fail again without a statement of its own being at fault.
// Connections in use are left alone. At most once per suspectIdleEvery; it
// is not counted as a Cleanup.
func (p *Pool) dropSuspectIdle() {
	now := time.Now().UnixNano()
	last := p.suspectAt.Load()
	if now-last < int64(suspectIdleEvery) || !p.suspectAt.CompareAndSwap(last, now) {
		return
	}
	p.closeIdle()
}

// closeIdle closes every idle connection and keeps the idle cap in force.
func (p *Pool) closeIdle() {
	p.idleMu.Lock()
	defer p.idleMu.Unlock()
	p.sql.SetMaxIdleConns(-1) // closes every idle connection
	p.sql.SetMaxIdleConns(p.idleCap)
}

// CleanupResult says what Cleanup did.
type CleanupResult struct {
	OpenBefore, OpenAfter int // connections open before and after
	IdleClosed            int // idle connections closed
	InUse                 int // connections in use, left alone
	Duration              time.Duration
}

// Cleanup closes every idle connection now; connections in use are left
// alone, and the pool opens new ones on demand. It is what the seed called
// emergency cleanup: the executor runs it on its own after pool exhaustion.
// ctx is accepted for symmetry; Cleanup does not block on the database.
func (p *Pool) Cleanup(ctx context.Context) (CleanupResult, error) {
	if err := ctx.Err(); err != nil {
		return CleanupResult{}, err
	}
	start := time.Now()
	before := p.sql.Stats()
	p.closeIdle()
	after := p.sql.Stats()
	p.cleanups.Add(1)
	r := CleanupResult{
		OpenBefore: before.OpenConnections, OpenAfter: after.OpenConnections,
		IdleClosed: int(after.MaxIdleClosed - before.MaxIdleClosed), InUse: after.InUse,
		Duration: time.Since(start),
	}
	p.log.Info("tollgate: cleanup", "idle_closed", r.IdleClosed, "open_before", r.OpenBefore, "open_after", r.OpenAfter)
	return r, nil
}
