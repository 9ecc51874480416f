package pool

import (
	"database/sql"
	"sync/atomic"
	"time"
)

// Stats is a value snapshot of the pool: database/sql's figures, the
// executor's gauges and counters, and the last classified error. Taking one
// costs two short lock holds and no I/O.
type Stats struct {
	// DB is database/sql's own view, every field of sql.DBStats.
	DB sql.DBStats
	// Utilization is connections in use as a percentage of MaxOpenConns.
	Utilization float64
	// Executor is the executor's view: queue, in flight, limit, counters,
	// queue-wait percentiles.
	Executor ExecutorStats
	// Cleanups counts Cleanup runs, manual and automatic.
	Cleanups int64
	// TimedOut counts calls (Do, Transaction) that ended in class Timeout:
	// the operation deadline, statement_timeout (57014), a connect
	// timeout. (Executor.TimedOut counts calls that gave up in the queue.)
	TimedOut int64
	// AppErrors counts calls that ended with an error of the application's
	// own (class Application). They are not failures of the pool: they
	// are not in Executor.Failed, LastError or health.
	AppErrors int64
	// DatabaseFailures counts the attempts that failed for a reason of the
	// database or the pool: every failed attempt, and every call the queue
	// refused (full, timed out), except the caller's cancellations,
	// constraint violations (the database answering as designed) and the
	// application's own errors. It is what health's error rate counts,
	// over Executor.Processed + Executor.Failed + Executor.Rejected +
	// Executor.TimedOut.
	DatabaseFailures int64
	// ExhaustedPostgres, ExhaustedPgBouncer and ExhaustedSupavisor count
	// the attempts refused for lack of connection slots, by who refused
	// them (see ExhaustionSource).
	ExhaustedPostgres, ExhaustedPgBouncer, ExhaustedSupavisor int64
	// LastError is the most recent failure of a call, sanitized; zero when
	// none has happened.
	LastError ErrorInfo
	// Profile and PgBouncer describe the configuration in force.
	Profile   Profile
	PgBouncer bool
}

// Saturated reports whether a new call, or a Ping, would have to wait: for
// a slot of the executor, or for a connection of database/sql (every one in
// use, by slots or by calls made on Gorm() directly).
func (s Stats) Saturated() bool {
	return s.Executor.QueueLength > 0 || s.Executor.InFlight >= s.Executor.Limit ||
		(s.DB.MaxOpenConnections > 0 && s.DB.InUse >= s.DB.MaxOpenConnections)
}

// ErrorInfo describes one failure without revealing the DSN or password.
type ErrorInfo struct {
	Class   Class
	Message string
	At      time.Time
}

// Stats returns a snapshot of the pool's figures.
func (p *Pool) Stats() Stats {
	s := Stats{DB: p.sql.Stats(), Executor: p.exec.Stats(), Cleanups: p.cleanups.Load(),
		TimedOut: p.counts.timedOut.Load(), AppErrors: p.counts.appErrors.Load(), DatabaseFailures: p.counts.dbFailures.Load(),
		ExhaustedPostgres: p.counts.exhaustedPostgres.Load(), ExhaustedPgBouncer: p.counts.exhaustedPgBouncer.Load(),
		ExhaustedSupavisor: p.counts.exhaustedSupavisor.Load(),
		Profile:            p.cfg.Profile, PgBouncer: p.cfg.PgBouncer}
	if s.DB.MaxOpenConnections > 0 {
		s.Utilization = 100 * float64(s.DB.InUse) / float64(s.DB.MaxOpenConnections)
	}
	p.lastErrMu.Lock()
	s.LastError = p.lastErr
	p.lastErrMu.Unlock()
	return s
}

// poolCounts are the pool's own counters of Stats.
type poolCounts struct {
	timedOut, appErrors, dbFailures                           atomic.Int64
	exhaustedPostgres, exhaustedPgBouncer, exhaustedSupavisor atomic.Int64
}

// noteErr sees every failed attempt. It counts exhaustions by source and
// records err as the last error when it is a failure worth reporting: not
// a caller's cancellation, not a constraint violation the caller handles,
// not an error of the application's own.
func (p *Pool) noteErr(c Class, err error) {
	if err == nil || c == OK || c == Canceled || c == Constraint || c == Application {
		return
	}
	if c == Exhausted {
		switch ExhaustionSource(err) {
		case "postgres":
			p.counts.exhaustedPostgres.Add(1)
		case "pgbouncer":
			p.counts.exhaustedPgBouncer.Add(1)
		case "supavisor":
			p.counts.exhaustedSupavisor.Add(1)
		}
	}
	info := ErrorInfo{Class: c, Message: p.sanitize(err).Error(), At: time.Now()}
	p.lastErrMu.Lock()
	p.lastErr = info
	p.lastErrMu.Unlock()
}

// isDatabaseFailure reports whether an attempt that failed with class c
// counts in Stats.DatabaseFailures.
func isDatabaseFailure(c Class) bool {
	return c != OK && c != Canceled && c != Constraint && c != Application
}

// endCall counts a call's outcome once, when it is over: err is what
// the caller gets.
func (p *Pool) endCall(err error) error {
	if err != nil {
		switch Classify(err) {
		case Timeout:
			p.counts.timedOut.Add(1)
		case Application:
			p.counts.appErrors.Add(1)
		}
	}
	return err
}
