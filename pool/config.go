package pool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Profile selects a set of defaults taken from the seed system's tuning.
type Profile string

// The three profiles. Their defaults:
//
//	             MaxOpenConns  MaxConcurrent  MaxQueue  QueueTimeout  OpTimeout
//	Production   5             3              10 000    10 s          6 s
//	Development  10            5              10 000    30 s          30 s
//	Serverless   2             1              10 000    10 s          6 s
//
// Development's timeouts are the seed's "relaxed timeouts, more forgiving
// for debugging": OpTimeout 5× and QueueTimeout 3× Production's, so that a
// first query on a cold laptop database, an unindexed query on a copy of
// production data or a short pause at a breakpoint inside a call do not
// fail, while a hung call still surfaces within a minute. Set APP_ENV=production
// in production: Development is also what an unset APP_ENV gives.
const (
	Production  Profile = "production"
	Development Profile = "development"
	Serverless  Profile = "serverless"
)

type profileDefaults struct {
	maxOpen, maxConcurrent  int
	queueTimeout, opTimeout time.Duration
}

var profiles = map[Profile]profileDefaults{
	Production:  {maxOpen: 5, maxConcurrent: 3, queueTimeout: DefaultQueueTimeout, opTimeout: DefaultOpTimeout},
	Development: {maxOpen: 10, maxConcurrent: 5, queueTimeout: DevelopmentQueueTimeout, opTimeout: DevelopmentOpTimeout},
	Serverless:  {maxOpen: 2, maxConcurrent: 1, queueTimeout: DefaultQueueTimeout, opTimeout: DefaultOpTimeout},
}

// Defaults of every profile; QueueTimeout and OpTimeout are Production's
// and Serverless's, Development relaxes them.
const (
	DefaultMaxQueue         = 10000
	DefaultQueueTimeout     = 10 * time.Second
	DefaultOpTimeout        = 6 * time.Second
	DevelopmentQueueTimeout = 30 * time.Second
	DevelopmentOpTimeout    = 30 * time.Second
	DefaultConnMaxLifetime  = 30 * time.Minute
	DefaultConnMaxIdleTime  = 5 * time.Minute
	DefaultRetryAttempts    = 3
	DefaultExhaustedTries   = 10
	DefaultRetryBackoff     = 50 * time.Millisecond
	DefaultRetryMaxBackoff  = 2 * time.Second
	DefaultRetryBudget      = 0.2
	DefaultRetryBurst       = 100
)

// RetryConfig bounds the retries the executor makes on its own. A call is
// retried only when nothing reached the server, when the server refused the
// connection for lack of slots, or when the call was marked [Idempotent] and
// the connection was lost.
type RetryConfig struct {
	// Attempts is the total number of tries, the first included; 1 turns
	// retries off. Default: 3.
	Attempts int
	// ExhaustedAttempts replaces Attempts when the failure is pool
	// exhaustion at connect time: nothing ran, the executor has just
	// halved its limit, and the slot will come; waiting for it is what a
	// caller wants. Still bounded by ctx and the retry budget. Default: 10
	// (about 7 s of backoff with the default delays).
	ExhaustedAttempts int
	// Backoff is the first delay; each retry doubles it, with jitter.
	// Default: 50ms.
	Backoff time.Duration
	// MaxBackoff caps one delay. Default: 2s.
	MaxBackoff time.Duration
	// Budget is the share of successful calls that may be followed by a
	// retry: each success earns Budget of a retry, each retry spends one,
	// and past the budget a retryable failure is returned at once (joined
	// with ErrRetryBudget), so that a failing database is not hit by a retry
	// storm. Default: 0.2.
	Budget float64
	// BudgetBurst is how many retries the budget can hold: what may be
	// spent at once, after a quiet spell, when many calls fail together (a
	// restart refuses every caller at the same moment). Default: 100.
	BudgetBurst int
}

// Config configures a [Pool]. The zero value works: it opens DATABASE_URL
// with the profile chosen from APP_ENV or GO_ENV.
type Config struct {
	// DatabaseURL is a PostgreSQL URL or keyword/value DSN, parsed by pgx
	// as libpq would parse it. Prisma's parameters are read and removed
	// before the driver sees it, each mapped or refused, never sent to the
	// server: connection_limit (MaxOpenConns), pool_timeout in seconds
	// (QueueTimeout; 0 waits without limit), socket_timeout in seconds
	// (OpTimeout), pgbouncer=true (transaction-pooler mode: no named
	// prepared statements), statement_cache_size, schema (search_path,
	// quoted as Prisma quotes it), sslaccept (checked against sslmode);
	// sslidentity (PKCS#12) is refused. connect_timeout, sslcert and
	// sslpassword are libpq's as well, and pgx reads them as libpq does
	// (sslcert is the client certificate and needs sslkey; Prisma's
	// server-CA sslcert is libpq's sslrootcert). Numbers are whole decimal
	// numbers. Settings given in this Config win over those parameters.
	// Default: the DATABASE_URL environment variable.
	DatabaseURL string
	// Dialector, when set, is used instead of DatabaseURL: any GORM
	// dialector, for example an embedded SQLite. Default: nil.
	Dialector gorm.Dialector
	// Profile selects the defaults below. Default: APP_ENV or GO_ENV when
	// either names a profile ("production", "development", "serverless";
	// "prod", "dev", "test" and "local" are accepted too), else Development.
	Profile Profile
	// MaxOpenConns bounds the connections the pool opens. Default: 5 in
	// Production, 10 in Development, 2 in Serverless, or the URL's
	// connection_limit.
	MaxOpenConns int
	// MaxIdleConns bounds idle connections kept. Default: MaxOpenConns.
	MaxIdleConns int
	// ConnMaxLifetime closes connections older than this. Default: 30m.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle longer than this. Default: 5m.
	ConnMaxIdleTime time.Duration
	// MaxConcurrent bounds the calls running at once; it may not exceed
	// MaxOpenConns, so that database/sql never queues callers itself.
	// Default: 3 in Production, 5 in Development, 1 in Serverless, and never
	// more than MaxOpenConns.
	MaxConcurrent int
	// MinConcurrent is the floor of the adaptive limit, which halves on pool
	// exhaustion and climbs back by one per run of successes. Default: 1.
	MinConcurrent int
	// MaxQueue bounds the calls waiting for a slot; past it a call fails at
	// once with ErrQueueFull. Default: 10000.
	MaxQueue int
	// QueueTimeout bounds the wait for a slot (ErrQueueTimeout). Default:
	// the URL's pool_timeout, else 10s (30s in Development). NoQueueTimeout
	// waits until ctx ends (the URL's pool_timeout=0).
	QueueTimeout time.Duration
	// OpTimeout bounds one call once it holds a slot, unless ctx ends
	// sooner. A Transaction's whole function gets TxTimeout instead.
	// Default: the URL's socket_timeout, else 6s (30s in Development).
	OpTimeout time.Duration
	// TxTimeout bounds one Transaction, all its statements included.
	// Default: 2 × OpTimeout.
	TxTimeout time.Duration
	// Retry bounds the executor's retries.
	Retry RetryConfig
	// DisableTxRetry stops Transaction from re-running its function after a
	// serialization failure (40001) or a deadlock (40P01). Default: false.
	DisableTxRetry bool
	// PgBouncer forces transaction-pooler mode (see DatabaseURL). Default:
	// the URL's pgbouncer parameter.
	PgBouncer bool
	// ApplicationName is sent to the server as application_name, where
	// pg_stat_activity shows it. Default: the URL's, else "tollgate".
	ApplicationName string
	// Gorm is the GORM configuration; PrepareStmt is forced off in
	// transaction-pooler mode. Its Logger, when set, replaces the pool's
	// query logging (SlowQueryThreshold, LogQueryValues); when nil, the
	// pool's is used. Default: GORM's defaults with SkipDefaultTransaction
	// and the pool's query logging.
	Gorm *gorm.Config
	// Tracer observes every call through the executor (see [Tracer]), for
	// telemetry such as package otelpool. When it is also a
	// pgx.QueryTracer (and a pgx.ConnectTracer, ...), it is installed on
	// every connection of a DatabaseURL pool too, chained with the pool's
	// own pgx tracer; a Dialector's connections are the caller's to
	// instrument. Default: nil (off).
	Tracer Tracer
	// Logger receives the pool's events: exhaustion, limit changes and
	// cleanups at Warn or Info, retries at Debug. It also receives the SQL
	// statements, through GORM's slog logger, with component=tollgate/sql:
	// in Development every statement at Debug (duration, rows, the
	// statement with placeholders), in every profile the slow ones at Warn
	// (SlowQueryThreshold) and the failed ones at Error, except a query
	// that found no row and a statement the caller canceled (Debug). The
	// pool's password never shows. Default: slog.Default().
	Logger *slog.Logger
	// SlowQueryThreshold: a statement that takes longer is logged at Warn,
	// in every profile. Negative: no slow-statement log. Default: 200ms.
	SlowQueryThreshold time.Duration
	// LogQueryValues puts the bound values into logged statements instead
	// of their placeholders. They may hold personal data and secrets: the
	// pool's own password and those of connection strings are still
	// masked, nothing else is. Default: false.
	LogQueryValues bool
}

// ErrInvalidConfig is wrapped by every validation error of Open.
var ErrInvalidConfig = errors.New("pool: invalid config")

// ProfileFromEnv returns the profile named by APP_ENV, else GO_ENV, else
// Development. An unrecognised value is an error.
func ProfileFromEnv() (Profile, error) {
	for _, k := range []string{"APP_ENV", "GO_ENV"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			p, err := parseProfile(v)
			if err != nil {
				return "", fmt.Errorf("%w: %s: %w", ErrInvalidConfig, k, err)
			}
			return p, nil
		}
	}
	return Development, nil
}

func parseProfile(s string) (Profile, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "production", "prod":
		return Production, nil
	case "development", "dev", "test", "testing", "local":
		return Development, nil
	case "serverless":
		return Serverless, nil
	}
	return "", fmt.Errorf("unknown profile %q (want production, development or serverless)", s)
}

// withDefaults validates c and fills in every zero field. It reads the
// environment only for fields that are unset.
func (c Config) withDefaults(u *URLSettings) (Config, error) {
	if c.Profile == "" {
		p, err := ProfileFromEnv()
		if err != nil {
			return c, err
		}
		c.Profile = p
	} else if _, err := parseProfile(string(c.Profile)); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	} else {
		c.Profile, _ = parseProfile(string(c.Profile))
	}
	d := profiles[c.Profile]
	var errs []error
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", name, v))
		}
	}
	neg("MaxOpenConns", int64(c.MaxOpenConns))
	neg("MaxIdleConns", int64(c.MaxIdleConns))
	neg("MaxConcurrent", int64(c.MaxConcurrent))
	neg("MinConcurrent", int64(c.MinConcurrent))
	neg("MaxQueue", int64(c.MaxQueue))
	neg("Retry.Attempts", int64(c.Retry.Attempts))
	neg("Retry.ExhaustedAttempts", int64(c.Retry.ExhaustedAttempts))
	neg("Retry.BudgetBurst", int64(c.Retry.BudgetBurst))
	for name, v := range map[string]time.Duration{
		"ConnMaxLifetime": c.ConnMaxLifetime, "ConnMaxIdleTime": c.ConnMaxIdleTime,
		"QueueTimeout": c.QueueTimeout, "OpTimeout": c.OpTimeout, "TxTimeout": c.TxTimeout,
		"Retry.Backoff": c.Retry.Backoff, "Retry.MaxBackoff": c.Retry.MaxBackoff,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %s", name, v))
		}
	}
	if c.Retry.Budget < 0 || c.Retry.Budget > 1 {
		errs = append(errs, fmt.Errorf("Retry.Budget must be between 0 and 1, got %g", c.Retry.Budget))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}

	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = d.maxOpen
		if u != nil && u.ConnectionLimit > 0 {
			c.MaxOpenConns = u.ConnectionLimit
		}
	}
	if c.MaxIdleConns == 0 || c.MaxIdleConns > c.MaxOpenConns {
		c.MaxIdleConns = c.MaxOpenConns
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = min(d.maxConcurrent, c.MaxOpenConns)
	}
	if c.MaxConcurrent > c.MaxOpenConns {
		return c, fmt.Errorf("%w: MaxConcurrent (%d) must not exceed MaxOpenConns (%d): database/sql would queue the excess callers itself, in random order",
			ErrInvalidConfig, c.MaxConcurrent, c.MaxOpenConns)
	}
	if c.MinConcurrent == 0 {
		c.MinConcurrent = 1
	}
	if c.MinConcurrent > c.MaxConcurrent {
		return c, fmt.Errorf("%w: MinConcurrent (%d) must not exceed MaxConcurrent (%d)", ErrInvalidConfig, c.MinConcurrent, c.MaxConcurrent)
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = d.queueTimeout
		if u != nil && u.PoolTimeout > 0 {
			c.QueueTimeout = u.PoolTimeout
		}
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = d.opTimeout
		if u != nil && u.SocketTimeout > 0 {
			c.OpTimeout = u.SocketTimeout
		}
	}
	if c.TxTimeout == 0 {
		c.TxTimeout = 2 * c.OpTimeout
	}
	if c.ConnMaxLifetime == 0 {
		c.ConnMaxLifetime = DefaultConnMaxLifetime
	}
	if c.ConnMaxIdleTime == 0 {
		c.ConnMaxIdleTime = DefaultConnMaxIdleTime
	}
	if c.Retry.Attempts == 0 {
		c.Retry.Attempts = DefaultRetryAttempts
	}
	if c.Retry.ExhaustedAttempts == 0 {
		c.Retry.ExhaustedAttempts = max(DefaultExhaustedTries, c.Retry.Attempts)
		if c.Retry.Attempts == 1 {
			c.Retry.ExhaustedAttempts = 1 // retries turned off means off
		}
	}
	if c.Retry.Backoff == 0 {
		c.Retry.Backoff = DefaultRetryBackoff
	}
	if c.Retry.MaxBackoff == 0 {
		c.Retry.MaxBackoff = DefaultRetryMaxBackoff
	}
	if c.Retry.Budget == 0 {
		c.Retry.Budget = DefaultRetryBudget
	}
	if c.Retry.BudgetBurst == 0 {
		c.Retry.BudgetBurst = DefaultRetryBurst
	}
	if u != nil && u.PgBouncer {
		c.PgBouncer = true
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "tollgate"
		if u != nil && u.ApplicationName != "" {
			c.ApplicationName = u.ApplicationName
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SlowQueryThreshold == 0 {
		c.SlowQueryThreshold = DefaultSlowQueryThreshold
	}
	return c, nil
}
