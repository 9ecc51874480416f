package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tollgate-db/tollgate/cache"
	"github.com/tollgate-db/tollgate/pool"
)

// Source is what a Checker needs of a pool. *pool.Pool satisfies it.
type Source interface {
	// Stats returns a snapshot of the pool's figures; it must not block
	// on the database.
	Stats() pool.Stats
	// Ping checks the database; ctx bounds it.
	Ping(ctx context.Context) error
	// Cleanup closes idle connections (the seed's emergency cleanup).
	Cleanup(ctx context.Context) (pool.CleanupResult, error)
}

// Defaults of Config.
const (
	DefaultTTL          = 30 * time.Second
	DefaultFailureTTL   = 5 * time.Second
	DefaultPingTimeout  = time.Second
	DefaultMaxBodyBytes = 4 << 10
)

// Config configures a [Checker]. The zero value works: a 30 s memo, a 1 s
// ping timeout, cleanup disabled.
type Config struct {
	// TTL is how long a successful ping is memoized. Default: 30s.
	TTL time.Duration
	// FailureTTL is how long a failed ping is memoized, so that a down
	// database is not pinged by every probe and recovery still shows
	// soon. Negative: failures are not memoized. Default: 5s.
	FailureTTL time.Duration
	// PingTimeout bounds one ping. Keep it no longer than your probes'
	// timeout (Kubernetes' default timeoutSeconds is 1). Default: 1s.
	PingTimeout time.Duration
	// Token is the bearer token that POST {"action":"cleanup"} must
	// present (Authorization: Bearer <token>). Surrounding white space is
	// trimmed, as on the request's side (a token read from a file keeps
	// its newline). After trimming it must be at least MinTokenBytes (16)
	// long: NewChecker refuses a shorter one, and New disables cleanup,
	// logs the error and reports it as a config_invalid warning. Empty
	// disables the action. Default: "" (cleanup disabled).
	Token string
	// Environment is reported as "environment". Default: the APP_ENV
	// environment variable, else GO_ENV, else the pool's profile.
	Environment string
	// MaxBodyBytes bounds a POST body; a larger one gets 413. Default: 4096.
	MaxBodyBytes int64
	// Logger receives cleanups (Info), failed cleanups (Warn) and refused
	// cleanup attempts (Debug: anyone who can reach the handler can make
	// them, so they must not flood an Info log). Default: slog.Default().
	Logger *slog.Logger
	// Fleet, when set, adds the instance's fleet figures (share, live
	// instances, fleet demand) to the report: pass the *fleet.Member.
	// Default: nil (no "fleet" object).
	Fleet FleetSource

	// The thresholds of the report's warnings (see Warning): the seed's
	// "Monitoring Metrics". A warning never changes the status.

	// UtilizationWarn is the utilization, in percent, at or above which
	// the report warns: connections in use of MaxOpenConns
	// (pool_utilization_high) and calls running of the executor's limit
	// (executor_utilization_high). Negative: no utilization warnings.
	// Default: 80.
	UtilizationWarn float64
	// QueueLengthWarn: the report warns when more calls than this wait for
	// a slot (queue_length_high). Negative: never. Default: 2.
	QueueLengthWarn int
	// ErrorRateWarn is the share of database calls, in percent, failed
	// over the last TTL (or since the check before, when checks are
	// further apart), at or above which the report warns
	// (error_rate_high). Database failures only (pool.Stats.DatabaseFailures):
	// a caller's cancellation, a constraint violation and an error the
	// application's own function returned are not counted; a call the
	// queue refused is. Negative: never. Default: 1.
	ErrorRateWarn float64
	// ErrorRateMinSample is the fewest database calls in that window for
	// the error rate to be judged, so that one failure among three calls
	// in a quiet minute is not a 33 % alarm. Default: 20.
	ErrorRateMinSample int
}

// Checker answers health checks for one Source. It is safe for concurrent
// use. Close it to stop the memo's janitor.
type Checker struct {
	src        Source
	cfg        Config
	env        string
	serverless bool
	memo       *cache.Cache[pingResult]
	rate       *rateWindow // the error rate's samples
	log        *slog.Logger
	cfgErr     error // what NewChecker would have refused; cleanup is then disabled
	// last is the last ping's result, kept beyond its TTL: when the pool is
	// saturated and nothing is memoized, it is the evidence reported, as
	// stale.
	last atomic.Pointer[pingResult]
}

const memoKey = "ping"

// pingResult is what the memo holds: one ping's outcome.
type pingResult struct {
	ok        bool
	latency   time.Duration
	checkedAt time.Time
	err       string // sanitized
}

// MinTokenBytes is the shortest Config.Token accepted: 16 bytes, 128 bits
// if random, so that the token cannot be guessed over the network.
const MinTokenBytes = 16

// ErrInvalidConfig is wrapped by NewChecker's errors.
var ErrInvalidConfig = errors.New("health: invalid config")

// WarnConfigInvalid is the warning of a report whose Checker was built by
// New from a Config that NewChecker refuses (a Token too short): cleanup
// is disabled until the configuration is fixed.
const WarnConfigInvalid = "config_invalid"

// NewChecker is New that refuses a bad Config instead of degrading: a
// Token shorter than MinTokenBytes once trimmed is an error wrapping
// ErrInvalidConfig.
func NewChecker(src Source, cfg Config) (*Checker, error) {
	c := New(src, cfg)
	if c.cfgErr != nil {
		c.Close()
		return nil, c.cfgErr
	}
	return c, nil
}

// New returns a Checker of src. Zero fields of cfg take their defaults;
// negative durations and sizes are treated as zero. New cannot fail: a
// Token NewChecker would refuse disables cleanup instead (POST answers
// 403 saying why), is logged at Error and shows in every report as a
// config_invalid warning. Prefer NewChecker, which returns the error.
func New(src Source, cfg Config) *Checker {
	var cfgErr error
	cfg.Token = strings.TrimSpace(cfg.Token)
	if n := len(cfg.Token); n > 0 && n < MinTokenBytes {
		cfgErr = fmt.Errorf("%w: Token is %d bytes long, want at least %d (e.g. openssl rand -hex 16): cleanup is disabled", ErrInvalidConfig, n, MinTokenBytes)
		cfg.Token = ""
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.FailureTTL == 0 {
		cfg.FailureTTL = DefaultFailureTTL
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.UtilizationWarn == 0 {
		cfg.UtilizationWarn = DefaultUtilizationWarn
	}
	if cfg.QueueLengthWarn == 0 {
		cfg.QueueLengthWarn = DefaultQueueLengthWarn
	}
	if cfg.ErrorRateWarn == 0 {
		cfg.ErrorRateWarn = DefaultErrorRateWarn
	}
	if cfg.ErrorRateMinSample <= 0 {
		cfg.ErrorRateMinSample = DefaultErrorRateMinSample
	}
	env := cfg.Environment
	for _, k := range []string{"APP_ENV", "GO_ENV"} {
		if env == "" {
			env = strings.TrimSpace(os.Getenv(k))
		}
	}
	st := src.Stats()
	if env == "" {
		env = string(st.Profile)
	}
	c := &Checker{
		src: src, cfg: cfg, env: env,
		serverless: DetectServerless() || st.Profile == pool.Serverless,
		memo: cache.New[pingResult](cache.Config{
			TTL: cfg.TTL, FailureTTL: cfg.FailureTTL, LoadTimeout: cfg.PingTimeout + time.Second,
			CleanupInterval: -1, // one key, overwritten on every load: nothing to sweep
		}),
		rate:   newRateWindow(cfg.TTL, int64(cfg.ErrorRateMinSample), sample(time.Now(), st)),
		log:    cfg.Logger.With("component", "tollgate/health"),
		cfgErr: cfgErr,
	}
	if cfgErr != nil {
		c.log.Error("tollgate: health config", "err", cfgErr)
	}
	return c
}

// serverlessEnv are the variables set by serverless platforms: AWS Lambda,
// Vercel, Google Cloud Run, Azure Functions, Netlify.
var serverlessEnv = []string{"AWS_LAMBDA_FUNCTION_NAME", "VERCEL", "K_SERVICE", "FUNCTIONS_WORKER_RUNTIME", "NETLIFY"}

// DetectServerless reports whether the process runs on a serverless
// platform, from the environment variables AWS_LAMBDA_FUNCTION_NAME,
// VERCEL, K_SERVICE, FUNCTIONS_WORKER_RUNTIME and NETLIFY.
func DetectServerless() bool {
	for _, k := range serverlessEnv {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// Close stops the memo's janitor. It is idempotent.
func (c *Checker) Close() { c.memo.Close() }

// Invalidate forgets the memoized ping: the next Check pings again. A ping
// running now does not store its result (the memo's generation of the key
// changed since it started), and a Check after Invalidate does not join it:
// a cleanup is not undone by a ping that began before it.
func (c *Checker) Invalidate() { c.memo.Delete(memoKey) }

// Check reports the database's health. The pool figures are read now;
// the ping result is memoized (see Config.TTL). When the pool is saturated
// Check does not ping: it reports the last ping's result (marked pingStale
// when older than its TTL) and the pool's last error, when that is newer
// than the ping and within Config.TTL. A transient or connection_lost
// error then makes the report "unhealthy" with database.healthy false (the
// server cannot be reached: calls are stuck connecting); an exhausted one
// makes it "degraded" (the server answers but has no slot); without either
// it is "degraded", or "unhealthy" when the last ping failed.
// The ping bypasses the executor's queue; database/sql could still make it
// wait for a connection if every one became busy between the saturation
// check and the ping, and Config.PingTimeout bounds that wait.
// ctx bounds only this caller's wait for a ping another caller may share;
// when it ends first, the report is "unhealthy" with the reason in
// database.error.
func (c *Checker) Check(ctx context.Context) Report {
	start := time.Now()
	st := c.src.Stats()
	var p pingUse
	if e, ok := c.memo.Lookup(memoKey); ok {
		p.res, p.have = e.Value, true
	} else if !saturated(st) && !st.Executor.Closed {
		p.attempted = true
		r, err := c.memo.GetOrLoad(ctx, memoKey, c.ping)
		if r.checkedAt.IsZero() {
			p.abandoned = err
		} else {
			p.res, p.have = r, true
		}
		st = c.src.Stats() // the ping may have changed LastError
	} else if last := c.last.Load(); last != nil {
		p.res, p.have, p.stale = *last, true, true
	}
	rep := c.report(start, st, p)
	if c.cfgErr != nil {
		rep.Warnings = append(rep.Warnings, Warning{Code: WarnConfigInvalid, Message: c.cfgErr.Error()})
	}
	return rep
}

// String shows c with Token masked, so that printing a Config cannot
// leak it.
func (c Config) String() string {
	if c.Token != "" {
		c.Token = "xxxxx"
	}
	type plain Config // no methods: fmt prints the fields
	return fmt.Sprintf("%+v", plain(c))
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue logs c with Token masked.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// pingUse is the ping result a report is made from.
type pingUse struct {
	res       pingResult
	have      bool  // res is set
	stale     bool  // res is the last ping, past its TTL: the pool was saturated
	attempted bool  // this Check pinged, or waited for a ping
	abandoned error // why the wait for the ping ended without a result
}

// saturated reports whether a ping would have to wait: every executor slot
// taken, callers queued, or every connection in use (database/sql would
// make the ping wait for one).
func saturated(st pool.Stats) bool {
	return st.Saturated() || (st.DB.MaxOpenConnections > 0 && st.DB.InUse >= st.DB.MaxOpenConnections)
}

var errPingFailed = errors.New("health: ping failed")

// ping is the memo's load. A failure is returned as an error too, so that
// the memo keeps it for FailureTTL only.
func (c *Checker) ping(ctx context.Context) (pingResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
	defer cancel()
	start := time.Now()
	err := c.src.Ping(ctx)
	r := pingResult{ok: err == nil, latency: time.Since(start), checkedAt: start}
	if err != nil {
		r.err = Sanitize(err.Error())
	}
	c.keepLast(r)
	if err != nil {
		return r, fmt.Errorf("%w: %s", errPingFailed, r.err)
	}
	return r, nil
}

// keepLast records r as the last ping unless a later one is recorded.
func (c *Checker) keepLast(r pingResult) {
	for {
		old := c.last.Load()
		if old != nil && old.checkedAt.After(r.checkedAt) {
			return
		}
		if c.last.CompareAndSwap(old, &r) {
			return
		}
	}
}
