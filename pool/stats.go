package pool

import (
	"database/sql"
	"errors"
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
		Profile: p.cfg.Profile, PgBouncer: p.cfg.PgBouncer}
	if s.DB.MaxOpenConnections > 0 {
		s.Utilization = 100 * float64(s.DB.InUse) / float64(s.DB.MaxOpenConnections)
	}
	p.lastErrMu.Lock()
	s.LastError = p.lastErr
	p.lastErrMu.Unlock()
	return s
}

// noteErr records err as the last error when it is a failure worth
// reporting: not a caller's cancellation, not a constraint violation the
// caller handles.
func (p *Pool) noteErr(c Class, err error) {
	if err == nil || c == OK || c == Canceled || c == Constraint {
		return
	}
	info := ErrorInfo{Class: c, Message: p.sanitize(err).Error(), At: time.Now()}
	p.lastErrMu.Lock()
	p.lastErr = info
	p.lastErrMu.Unlock()
}

// unwrapAll returns the innermost error of a chain, whose text is the
// cause without the wrappers' repetition of the input.
func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
