package pool

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Class is what the executor makes of an error: whether it may retry, and
// whether the pool is exhausted.
type Class int

// The error classes. See Classify.
const (
	// OK is the class of a nil error.
	OK Class = iota
	// Canceled: the caller's context ended. Never retried.
	Canceled
	// Transient: nothing reached the server (a refused or failed connect,
	// a write that never left). Any call may be retried.
	Transient
	// Exhausted: the server or a pooler refused the connection for lack of
	// slots (PostgreSQL 53300, PgBouncer max_client_conn, Supavisor
	// MaxClientsInSessionMode / EMAXCONNSESSION / EMAXCONN). Any call may
	// be retried; the executor also lowers its limit and closes idle
	// connections.
	Exhausted
	// Conflict: serialization failure (40001) or deadlock (40P01). The
	// transaction was rolled back; Transaction re-runs its function.
	Conflict
	// ConnectionLost: the connection broke after the statement may have
	// been sent (admin shutdown, crash, network). Only calls marked
	// Idempotent are retried.
	ConnectionLost
	// PoolerMismatch: named prepared statements used through a transaction
	// pooler (42P05, 26000). Never retried: set pgbouncer=true.
	PoolerMismatch
	// Constraint: an integrity violation (class 23). Never retried.
	Constraint
	// Permanent: everything else. Never retried.
	Permanent
)

var classNames = [...]string{"ok", "canceled", "transient", "exhausted", "conflict", "connection_lost", "pooler_mismatch", "constraint", "permanent"}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Exhaustion texts, matched case-insensitively in messages. The SQLSTATE of
// Supavisor's errors is a generic XX000 and PgBouncer's is 08P01, shared
// with protocol violations, so the message is what identifies them.
var exhaustionTexts = []string{
	"maxclientsinsessionmode",
	"emaxconnsession",
	"(emaxconn)",
	"max client connections reached",
	"no more connections allowed",
	"sorry, too many clients already",
	"remaining connection slots are reserved",
	"too many connections for role",
	"too many connections for database",
}

// IsPoolExhausted reports whether err says that the server or a pooler in
// front of it had no connection slot left.
func IsPoolExhausted(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.Code == "53300" {
			return true
		}
		if matchesExhaustion(pe.Message) {
			return true
		}
	}
	return matchesExhaustion(err.Error())
}

func matchesExhaustion(msg string) bool {
	if msg == "" {
		return false
	}
	m := strings.ToLower(msg)
	for _, t := range exhaustionTexts {
		if strings.Contains(m, t) {
			return true
		}
	}
	return false
}

// Classify says what kind of failure err is. It unwraps with errors.As, so
// errors wrapped by GORM or by the caller classify as their cause.
func Classify(err error) Class {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, ErrCommitUnknown):
		return ConnectionLost
	case IsPoolExhausted(err):
		return Exhausted
	}
	var ce *pgconn.ConnectError
	connecting := errors.As(err, &ce)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		c := classifyCode(pe.Code)
		if connecting && c == ConnectionLost {
			return Transient // refused at connect (57P03 starting up, 08xxx): nothing ran
		}
		return c
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled
	}
	if pgconn.SafeToRetry(err) {
		return Transient
	}
	if connecting || errors.Is(err, syscall.ECONNREFUSED) {
		return Transient
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return ConnectionLost
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ConnectionLost
	}
	m := strings.ToLower(err.Error())
	switch {
	case strings.Contains(m, "server closed the connection"),
		strings.Contains(m, "conn closed"),
		strings.Contains(m, "unexpected eof"),
		strings.Contains(m, "broken pipe"),
		strings.Contains(m, "connection reset by peer"):
		return ConnectionLost
	case strings.Contains(m, "prepared statement") && (strings.Contains(m, "already exists") || strings.Contains(m, "does not exist")):
		return PoolerMismatch
	}
	return Permanent
}

func classifyCode(code string) Class {
	switch {
	case code == "53300":
		return Exhausted
	case code == "40001" || code == "40P01":
		return Conflict
	case code == "42P05" || code == "26000":
		return PoolerMismatch
	case code == "57P01" || code == "57P02" || code == "57P03" || strings.HasPrefix(code, "08"):
		return ConnectionLost
	case strings.HasPrefix(code, "23"):
		return Constraint
	case code == "57014":
		return Canceled // statement_timeout or a cancel request
	}
	return Permanent
}
