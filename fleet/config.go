package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Defaults of Config.
const (
	DefaultPeriod    = time.Second
	DefaultSafeShare = 1
)

// ErrInvalidConfig is wrapped by every validation error of Join.
var ErrInvalidConfig = errors.New("fleet: invalid config")

// Config configures one instance's membership of a fleet. The zero value
// works directly on PostgreSQL (the budget is read from the server);
// behind a pooler Budget is required.
type Config struct {
	// Name is the fleet: instances with the same Name (and Table) share
	// one Budget. Default: the pool's ApplicationName.
	Name string
	// ID names this instance within the fleet; it must be unique there.
	// Default: hostname-pid-random.
	ID string
	// Budget is the connections the whole fleet may hold: the pooler's
	// max_client_conn (PgBouncer session mode) or pool_size (Supavisor
	// session mode), or the server's max_connections less what other
	// clients need. It is required behind a pooler, which Join recognises
	// by pgbouncer=true or by the server's port differing from the URL's.
	// Default: directly on PostgreSQL, max_connections −
	// superuser_reserved_connections (− reserved_connections), or the role's
	// CONNECTION LIMIT when smaller; Join logs what it found. That default
	// assumes the fleet is the server's only client.
	Budget int
	// Reserve is kept out of the allocation: the slack for instances that
	// have started but whose row is not in yet (each runs at one
	// connection until it is), and for brief disagreements while rows
	// change. Set it to the number of instances you expect to start within
	// one Period. Default: 1, or 5 % of Budget when that is more.
	Reserve int
	// Period is how often the instance heartbeats and recomputes its
	// share: one small statement per Period. Default: 1s.
	Period time.Duration
	// TTL is how long a row stays live without a heartbeat: a crashed
	// instance's share returns to the others after at most TTL plus one
	// Period. An instance whose own heartbeats fail for TTL falls back to
	// SafeShare. Default: 3 × Period.
	TTL time.Duration
	// Rotate is how often the connections that cannot be split evenly
	// (14 among 8 instances: 6 get 2, 2 get 1) move on to other
	// instances, so that over time every instance holds the larger share
	// equally often. Each move leaves one connection unused for up to one
	// Period. Negative: never (the smallest IDs keep them). Default: 3 ×
	// Period.
	Rotate time.Duration
	// SafeShare is the share an instance falls back to when it could not
	// heartbeat for TTL (the others have then stopped counting it); never
	// more than the share it had. Default: 1.
	SafeShare int
	// Table is the fleet table, created (UNLOGGED) when absent; see
	// Schema. Default: "tollgate_fleet".
	Table string
	// Logger receives joins, leaves and fallbacks (Info), heartbeat
	// failures (Warn, the first of a run) and share changes (Debug).
	// Default: slog.Default().
	Logger *slog.Logger
}

// withDefaults validates c and fills in what does not need the database.
// Budget and Reserve are settled by Join.
func (c Config) withDefaults(appName string) (Config, error) {
	var errs []error
	if c.Budget < 0 {
		errs = append(errs, fmt.Errorf("Budget must not be negative, got %d", c.Budget))
	}
	if c.Reserve < 0 {
		errs = append(errs, fmt.Errorf("Reserve must not be negative, got %d", c.Reserve))
	}
	if c.SafeShare < 0 {
		errs = append(errs, fmt.Errorf("SafeShare must not be negative, got %d", c.SafeShare))
	}
	if c.Period < 0 || c.TTL < 0 {
		errs = append(errs, fmt.Errorf("Period and TTL must not be negative"))
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if !identifier.MatchString(c.Table) {
		errs = append(errs, fmt.Errorf("Table %q is not a lower-case identifier", c.Table))
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.Period > 0 && c.Period < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("Period must be at least 10ms, got %s", c.Period))
	}
	if c.TTL == 0 {
		c.TTL = 3 * c.Period
	}
	if c.TTL < 2*c.Period {
		errs = append(errs, fmt.Errorf("TTL (%s) must be at least two Periods (%s): a row would expire between heartbeats", c.TTL, c.Period))
	}
	if c.Rotate == 0 {
		c.Rotate = 3 * c.Period
	}
	if c.SafeShare == 0 {
		c.SafeShare = DefaultSafeShare
	}
	if c.Name == "" {
		c.Name = appName
	}
	if c.ID == "" {
		c.ID = defaultID()
	}
	if len(c.Name) > 200 || len(c.ID) > 200 {
		errs = append(errs, fmt.Errorf("Name and ID must be at most 200 bytes"))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return c, nil
}

// settleBudget fills in Reserve once Budget is known and checks that
// something is left to allocate.
func (c *Config) settleBudget() error {
	if c.Reserve == 0 {
		c.Reserve = max(1, (c.Budget+19)/20)
	}
	if c.Budget-c.Reserve < 1 {
		return fmt.Errorf("%w: Budget (%d) minus Reserve (%d) leaves nothing to share", ErrInvalidConfig, c.Budget, c.Reserve)
	}
	return nil
}

func defaultID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}
