package health

import (
	"time"

	"github.com/tollgate-db/tollgate/internal/redact"
	"github.com/tollgate-db/tollgate/pool"
)

// Status is the one-word verdict of a Report.
type Status string

// The three statuses. Handler answers 200 for the first two, 503 for the
// third.
const (
	// StatusHealthy: the last ping succeeded and the pool has room.
	StatusHealthy Status = "healthy"
	// StatusDegraded: the pool is saturated (every slot busy or callers
	// queued); the database is serving but new calls wait. No ping is made
	// while saturated. Also when the pool's recent error is "exhausted":
	// the server answers but has no connection slot to give; and when it
	// is "timeout" and within Config.TTL: calls time out (the pool's
	// OpTimeout, statement_timeout, connects), whatever a ping says.
	StatusDegraded Status = "degraded"
	// StatusUnhealthy: the ping failed or timed out, or the pool is closed,
	// or the pool is saturated and its recent calls failed to reach the
	// server (a "transient" or "connection_lost" error newer than the last
	// ping and within Config.TTL).
	StatusUnhealthy Status = "unhealthy"
)

// Report is the health of the database and its pool. Its JSON keeps the
// seed's shape and adds the other fields.
type Report struct {
	Status            Status            `json:"status"`
	Database          Database          `json:"database"`
	ConnectionManager ConnectionManager `json:"connectionManager"`
	// Timestamp is when this report was made.
	Timestamp   time.Time `json:"timestamp"`
	Environment string    `json:"environment"`
	Serverless  bool      `json:"serverless"`
	// CheckedAt is when the ping this report uses ran; nil when no ping
	// has been made yet (the pool was saturated or closed from the start).
	CheckedAt *time.Time `json:"checkedAt,omitempty"`
	// PingStale is true when the pool is saturated, so no ping could be
	// made, and the ping result reported (CheckedAt, PingLatencyMs and
	// database.healthy unless the pool's recent errors say otherwise) is
	// the last one made, older than its TTL.
	PingStale bool `json:"pingStale"`
	// Cached is true when the ping ran before this call began: the result
	// was memoized, or shared with the caller that started the ping.
	Cached bool `json:"cached"`
	// PingLatencyMs is the ping's round trip in milliseconds.
	PingLatencyMs float64 `json:"pingLatencyMs"`
	// LastError is the pool's last classified failure, password removed.
	LastError *ErrorInfo `json:"lastError,omitempty"`
	// Waits says how much callers have waited for connections and slots.
	Waits Waits `json:"waits"`
	// Warnings are the seed's monitoring thresholds this report crosses
	// (see Warning and Config.UtilizationWarn); an empty list, never null,
	// when none is. They do not change Status.
	Warnings []Warning `json:"warnings"`
	// Fleet is the instance's share of its fleet's budget, when
	// Config.Fleet is set.
	Fleet *Fleet `json:"fleet,omitempty"`
}

// Database is the seed's "database" object plus the ping error.
type Database struct {
	// Healthy is false when the last ping failed, or when the pool is
	// saturated (so no ping is made) and its calls are failing to reach
	// the server: see StatusUnhealthy.
	Healthy        bool           `json:"healthy"`
	ConnectionPool ConnectionPool `json:"connectionPool"`
	// Error is why Healthy is false, password removed.
	Error string `json:"error,omitempty"`
}

// ConnectionPool is database/sql's view of the connections.
type ConnectionPool struct {
	Active      int     `json:"active"`      // connections in use
	Idle        int     `json:"idle"`        // idle connections
	Open        int     `json:"open"`        // open connections, in use or idle
	Max         int     `json:"max"`         // MaxOpenConns
	Utilization float64 `json:"utilization"` // active / max, in percent
}

// ConnectionManager is the executor's view: the seed's queue figures plus
// the adaptive limit.
type ConnectionManager struct {
	// Healthy is false when the pool is saturated or closed.
	Healthy           bool `json:"healthy"`
	QueueLength       int  `json:"queueLength"`
	IsProcessingQueue bool `json:"isProcessingQueue"` // calls are running or waiting
	InFlight          int  `json:"inFlight"`
	Limit             int  `json:"limit"`         // the adaptive limit now
	MaxConcurrent     int  `json:"maxConcurrent"` // its ceiling
	Closed            bool `json:"closed,omitempty"`
}

// Waits are the figures that tell pool starvation from a slow database.
type Waits struct {
	SQLWaitCount      int64   `json:"sqlWaitCount"`      // database/sql waits for a connection
	SQLWaitMs         float64 `json:"sqlWaitMs"`         // their total duration
	QueueWaitP50Ms    float64 `json:"queueWaitP50Ms"`    // executor queue wait, median
	QueueWaitP99Ms    float64 `json:"queueWaitP99Ms"`    // and 99th percentile
	QueueRejected     int64   `json:"queueRejected"`     // calls refused: queue full
	QueueTimedOut     int64   `json:"queueTimedOut"`     // calls that gave up waiting
	PoolExhaustions   int64   `json:"poolExhaustions"`   // pool-exhaustion errors seen
	LimitDecreases    int64   `json:"limitDecreases"`    // times the limit was lowered
	EmergencyCleanups int64   `json:"emergencyCleanups"` // Cleanup runs
}

// ErrorInfo is the pool's last error.
type ErrorInfo struct {
	Class   string    `json:"class"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (c *Checker) report(now time.Time, st pool.Stats, p pingUse) Report {
	sat := saturated(st)
	res := p.res
	r := Report{
		Timestamp:   now.UTC(),
		Environment: c.env,
		Serverless:  c.serverless,
		Database: Database{
			Healthy: true,
			ConnectionPool: ConnectionPool{
				Active: st.DB.InUse, Idle: st.DB.Idle, Open: st.DB.OpenConnections,
				Max: st.DB.MaxOpenConnections, Utilization: st.Utilization,
			},
		},
		ConnectionManager: ConnectionManager{
			Healthy:     !sat && !st.Executor.Closed,
			QueueLength: st.Executor.QueueLength, IsProcessingQueue: st.Executor.InFlight > 0 || st.Executor.QueueLength > 0,
			InFlight: st.Executor.InFlight, Limit: st.Executor.Limit, MaxConcurrent: st.Executor.MaxConcurrent,
			Closed: st.Executor.Closed,
		},
		Waits: Waits{
			SQLWaitCount: st.DB.WaitCount, SQLWaitMs: ms(st.DB.WaitDuration),
			QueueWaitP50Ms: ms(st.Executor.QueueWaitP50), QueueWaitP99Ms: ms(st.Executor.QueueWaitP99),
			QueueRejected: st.Executor.Rejected, QueueTimedOut: st.Executor.TimedOut,
			PoolExhaustions: st.Executor.Exhaustions, LimitDecreases: st.Executor.LimitDecreases,
			EmergencyCleanups: st.Cleanups,
		},
	}
	r.Warnings = c.warnings(st, c.rate.observe(sample(now, st)))
	r.Fleet = fleetOf(c.cfg.Fleet)
	if !st.LastError.At.IsZero() {
		r.LastError = &ErrorInfo{Class: st.LastError.Class.String(), Message: Sanitize(st.LastError.Message), At: st.LastError.At.UTC()}
	}
	if p.have {
		at := res.checkedAt.UTC()
		r.CheckedAt = &at
		r.Cached = res.checkedAt.Before(now)
		r.PingStale = p.stale
		r.PingLatencyMs = ms(res.latency)
		r.Database.Healthy = res.ok
		r.Database.Error = res.err
	}
	if p.abandoned != nil {
		r.Database.Healthy = false
		r.Database.Error = "health check did not finish: " + Sanitize(p.abandoned.Error())
	}
	// No ping now: believe the pool's recent errors over an older ping.
	exhausted := false
	if e := st.LastError; sat && !p.attempted && !st.Executor.Closed && c.recent(e, now, p) {
		switch e.Class {
		case pool.Transient, pool.ConnectionLost:
			r.Database.Healthy = false
			r.Database.Error = "the pool is saturated and its calls fail to reach the database (" + e.Class.String() + "): " + Sanitize(e.Message)
		case pool.Exhausted:
			exhausted = true // the server answers, but has no slot for us
		}
	}
	// Calls that time out (the op deadline, statement_timeout, connects):
	// the database may answer a ping and still not do the work in time.
	e := st.LastError
	timedOut := e.Class == pool.Timeout && !e.At.IsZero() && now.Sub(e.At) <= c.cfg.TTL
	if timedOut && r.Database.Error == "" {
		r.Database.Error = "calls time out: " + Sanitize(e.Message)
	}
	switch {
	case st.Executor.Closed:
		r.Status = StatusUnhealthy
	case exhausted, timedOut:
		r.Status = StatusDegraded
	case !r.Database.Healthy:
		r.Status = StatusUnhealthy
	case sat:
		r.Status = StatusDegraded
	default:
		r.Status = StatusHealthy
	}
	return r
}

// recent reports whether e is evidence for a report made at now: it
// happened within Config.TTL (as long as a ping is trusted) and after the
// ping the report uses.
func (c *Checker) recent(e pool.ErrorInfo, now time.Time, p pingUse) bool {
	if e.At.IsZero() || now.Sub(e.At) > c.cfg.TTL {
		return false
	}
	return !p.have || e.At.After(p.res.checkedAt)
}

// Sanitize removes passwords from msg: the userinfo password and the
// password= and sslpassword= values (any case) of every connection
// string in it, through tollgate's one redactor. The pool already removes
// its own DSN's secrets from its errors; this is the second line.
func Sanitize(msg string) string { return redact.Text(msg) }
