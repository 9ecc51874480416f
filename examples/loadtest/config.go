package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// Modes and workloads.
const (
	modeTollgate = "tollgate"
	modeBaseline = "baseline"
	modePgxpool  = "pgxpool"   // pgx's own pool, no GORM: the limit anyone would compare against
	modeSem      = "semaphore" // the baseline behind a plain x/sync semaphore of -limit: a FIFO gate and nothing else
	modeBoth     = "both"
	modeAll      = "all"

	workloadRead  = "read"
	workloadWrite = "write"
	workloadMix   = "mix"

	faultNone      = "none"
	faultTerminate = "terminate"
	faultRestart   = "restart"
)

// config is everything the command line says.
type config struct {
	DatabaseURL string // empty: embedded SQLite at SQLitePath
	SQLitePath  string
	MonitorURL  string // direct PostgreSQL URL for pg_stat_activity; "" = DatabaseURL

	Mode       string
	Rounds     int    // each mode runs Rounds times, the modes interleaved round by round
	CPUProfile string // write a CPU profile of the whole run here
	Workload   string
	Users      int // per instance
	Duration   time.Duration
	Ops        int64 // per instance; 0 = run for Duration
	Limit      int
	QueryMS    float64
	Seed       uint64
	Table      string
	WriteMix   int // percentage of writes in the mix workload

	Instances int
	JSON      bool
	Report    string
	Verbose   bool
	Progress  string // auto | on | off

	BaselineMaxOpen int // -1 = same as Limit; 0 = unlimited
	MaxConcurrent   int // 0 = Limit

	// Tollgate knobs for the fault scenarios; zero keeps pool's defaults.
	RetryAttempts int
	RetryBackoff  time.Duration
	RetryMaxDelay time.Duration
	RetryBudget   float64
	OpTimeout     time.Duration
	QueueTimeout  time.Duration

	Fault      string
	FaultEvery time.Duration // terminate: period
	FaultAfter time.Duration // first fault (restart: the only one)

	fleetOpts // -fleet-budget, -join, -kill (fleet.go)

	// Set by the parent for its children.
	Child    bool
	RunID    string
	Instance int
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// parseFlags reads args (without the program name). Errors mention the flag.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: loadtest [flags]\n\nDrives concurrent simulated users against DATABASE_URL (embedded SQLite when unset)\nthrough tollgate and/or plain GORM, and reports latency, throughput and errors.\nSee examples/loadtest/README.md.\n\nFlags:\n")
		usageWithoutInternal(fs, stderr)
	}
	fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (Prisma-style parameters such as connection_limit are understood); empty = embedded SQLite")
	fs.StringVar(&c.SQLitePath, "sqlite", "", "SQLite file used when no database URL is set (default: a new file in the temp directory, removed afterwards)")
	fs.StringVar(&c.MonitorURL, "monitor-url", "", "direct PostgreSQL URL to sample pg_stat_activity and inject faults from (default: the database URL)")
	fs.StringVar(&c.Mode, "mode", modeBoth, "tollgate | baseline | pgxpool | semaphore | both (tollgate, baseline) | all (tollgate, baseline, pgxpool), or a comma-separated list; one after the other, same table")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	fs.IntVar(&c.Rounds, "rounds", 1, "run the modes this many times, interleaved round by round (each for -duration), and report per-round ratios")
	fs.StringVar(&c.Workload, "workload", workloadRead, "read | write | mix")
	fs.IntVar(&c.Users, "users", 50, "concurrent simulated users per instance")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long each mode runs; with -ops, the cap on it")
	fs.Int64Var(&c.Ops, "ops", 0, "operations per instance and mode (0 = run for -duration)")
	fs.IntVar(&c.Limit, "limit", 0, "connection limit per instance (default: the URL's connection_limit, else 5)")
	fs.Float64Var(&c.QueryMS, "query-ms", 1, "server time of each read in milliseconds, via pg_sleep (PostgreSQL only); 0 = the fast case, a plain indexed lookup with no pg_sleep")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the users' random choices")
	fs.StringVar(&c.Table, "table", "loadtest_items", "table to use, created if absent")
	fs.IntVar(&c.WriteMix, "write-percent", 20, "share of writes in the mix workload, in percent")
	fs.IntVar(&c.Instances, "instances", 1, "child processes, each with its own pool, sharing the run (as serverless instances share a budget)")
	fs.BoolVar(&c.JSON, "json", false, "print the figures as one JSON object on the last line of stdout")
	fs.StringVar(&c.Report, "report", "", "write a self-contained HTML report to this file")
	fs.BoolVar(&c.Verbose, "v", false, "log the pool's events to stderr")
	fs.StringVar(&c.Progress, "progress", "auto", "progress bar on stderr: auto (when a terminal) | on | off")
	fs.IntVar(&c.BaselineMaxOpen, "baseline-max-open", -1, "baseline sql.DB MaxOpenConns: -1 = same as -limit, 0 = unlimited (plain GORM defaults)")
	fs.IntVar(&c.MaxConcurrent, "max-concurrent", 0, "tollgate MaxConcurrent (default: -limit, so that throughput is comparable)")
	fs.IntVar(&c.RetryAttempts, "retry-attempts", 0, "tollgate Retry.Attempts (0 = pool default)")
	fs.DurationVar(&c.RetryBackoff, "retry-backoff", 0, "tollgate Retry.Backoff (0 = pool default)")
	fs.DurationVar(&c.RetryMaxDelay, "retry-max-backoff", 0, "tollgate Retry.MaxBackoff (0 = pool default)")
	fs.Float64Var(&c.RetryBudget, "retry-budget", 0, "tollgate Retry.Budget (0 = pool default)")
	fs.DurationVar(&c.OpTimeout, "op-timeout", 0, "tollgate OpTimeout (0 = pool default)")
	fs.DurationVar(&c.QueueTimeout, "queue-timeout", 0, "tollgate QueueTimeout (0 = pool default)")
	fs.StringVar(&c.Fault, "fault", faultNone, "none | terminate (pg_terminate_backend of the run's backends every -fault-every) | restart (restart PostgreSQL once, needs root and pg_ctlcluster)")
	fs.DurationVar(&c.FaultEvery, "fault-every", 150*time.Millisecond, "period of -fault terminate")
	fs.DurationVar(&c.FaultAfter, "fault-after", 500*time.Millisecond, "delay before the first fault")
	fs.BoolVar(&c.Child, "child", false, "internal: run as a child of -instances")
	fs.StringVar(&c.RunID, "run-id", "", "internal: the parent's run id")
	fs.IntVar(&c.Instance, "instance", 0, "internal: the child's number")
	c.fleetOpts.register(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return c, c.validate()
}

// validate checks c and fills in the defaults that depend on other flags.
func (c *config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, m := range c.modes() {
		switch m {
		case modeTollgate, modeBaseline, modePgxpool, modeSem:
		default:
			bad("-mode must be tollgate, baseline, pgxpool, semaphore, both, all or a comma-separated list of the first four, got %q", c.Mode)
		}
	}
	if slices.Contains(c.modes(), modePgxpool) && c.DatabaseURL == "" {
		bad("-mode pgxpool needs a PostgreSQL database URL")
	}
	if c.Rounds < 1 || c.Rounds > 100 {
		bad("-rounds must be between 1 and 100, got %d", c.Rounds)
	}
	switch c.Workload {
	case workloadRead, workloadWrite, workloadMix:
	default:
		bad("-workload must be read, write or mix, got %q", c.Workload)
	}
	switch c.Fault {
	case faultNone, faultTerminate, faultRestart:
	default:
		bad("-fault must be none, terminate or restart, got %q", c.Fault)
	}
	switch c.Progress {
	case "auto", "on", "off":
	default:
		bad("-progress must be auto, on or off, got %q", c.Progress)
	}
	if c.Users < 1 || c.Users > 100000 {
		bad("-users must be between 1 and 100000, got %d", c.Users)
	}
	if c.Duration <= 0 || c.Duration > time.Hour {
		bad("-duration must be positive and at most 1h, got %s", c.Duration)
	}
	if c.Ops < 0 {
		bad("-ops must not be negative, got %d", c.Ops)
	}
	if c.Instances < 1 || c.Instances > 64 {
		bad("-instances must be between 1 and 64, got %d", c.Instances)
	}
	if c.QueryMS < 0 || c.QueryMS > 10000 {
		bad("-query-ms must be between 0 and 10000, got %g", c.QueryMS)
	}
	if c.WriteMix < 0 || c.WriteMix > 100 {
		bad("-write-percent must be between 0 and 100, got %d", c.WriteMix)
	}
	if !tableName.MatchString(c.Table) {
		bad("-table must be a lower-case SQL identifier, got %q", c.Table)
	}
	if c.BaselineMaxOpen < -1 {
		bad("-baseline-max-open must be -1, 0 or positive, got %d", c.BaselineMaxOpen)
	}
	if c.Limit < 0 || c.MaxConcurrent < 0 || c.RetryAttempts < 0 || c.RetryBackoff < 0 || c.RetryMaxDelay < 0 ||
		c.OpTimeout < 0 || c.QueueTimeout < 0 || c.RetryBudget < 0 || c.RetryBudget > 1 || c.FaultEvery <= 0 || c.FaultAfter < 0 {
		bad("limits, timeouts and retry settings must not be negative (and -retry-budget at most 1, -fault-every positive)")
	}
	if c.Fault != faultNone && c.DatabaseURL == "" {
		bad("-fault needs a PostgreSQL database URL")
	}
	if c.Limit == 0 {
		c.Limit = 5
		if c.DatabaseURL != "" {
			s, err := pool.ParseURL(c.DatabaseURL)
			if err != nil {
				errs = append(errs, err) // ParseURL never prints the password
			} else if s.ConnectionLimit > 0 {
				c.Limit = s.ConnectionLimit
			}
		}
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = c.Limit
	}
	if c.MaxConcurrent > c.Limit {
		bad("-max-concurrent (%d) must not exceed -limit (%d)", c.MaxConcurrent, c.Limit)
	}
	if c.BaselineMaxOpen == -1 {
		c.BaselineMaxOpen = c.Limit
	}
	if c.MonitorURL == "" {
		c.MonitorURL = c.DatabaseURL
	}
	if err := c.fleetOpts.validate(c); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// modes lists the modes to run, in order.
func (c *config) modes() []string {
	switch c.Mode {
	case modeBoth:
		return []string{modeTollgate, modeBaseline}
	case modeAll:
		return []string{modeTollgate, modeBaseline, modePgxpool}
	}
	return strings.Split(c.Mode, ",")
}

// postgres reports whether the target is PostgreSQL (else embedded SQLite).
func (c *config) postgres() bool { return c.DatabaseURL != "" }
