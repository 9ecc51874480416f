package pool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Class is what the executor makes of an error: whether it may retry, and
// whether the pool is exhausted. The rules are in the package doc.
type Class int

// The error classes. See Classify.
const (
	// OK is the class of a nil error.
	OK Class = iota
	// Canceled: the caller's context ended. Never retried; not a failure
	// of the database.
	Canceled
	// Transient: nothing reached the server (a refused or failed connect,
	// a write that never left). Retried when no statement of the attempt
	// was sent.
	Transient
	// Exhausted: the server or a pooler refused the connection for lack of
	// slots (PostgreSQL 53300; at connect, PgBouncer's max_client_conn and
	// Supavisor's max-clients errors). Retried like Transient; the
	// executor also lowers its limit and closes idle connections.
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
	// Constraint: an integrity violation (class 23, SQLite's
	// SQLITE_CONSTRAINT). Never retried.
	Constraint
	// Permanent: any other error of the database, the driver or GORM.
	// Never retried.
	Permanent
	// Timeout: the pool's OpTimeout (or TxTimeout) expired, the server
	// cancelled the statement (57014, statement_timeout), or a connect
	// timed out. Recorded and shown in health. Never retried once a
	// statement was sent; a connect timeout is retried like other connect
	// failures.
	Timeout
	// Application: an error fn made itself, not one of the database, the
	// driver or GORM. Returned as is, never retried, and not a failure of
	// the pool: not in Failed, LastError or health (Stats.AppErrors
	// counts them).
	Application
)

var classNames = [...]string{"ok", "canceled", "transient", "exhausted", "conflict", "connection_lost", "pooler_mismatch", "constraint", "permanent", "timeout", "application"}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Exhaustion texts of poolers, matched case-insensitively in the message
// of a server error received while connecting, and nowhere else. Their
// SQLSTATEs identify nothing: Supavisor's is a generic XX000 and
// PgBouncer's 08P01 is shared with every protocol violation. A statement's
// error message may quote a value the request sent, so a statement error
// is classified by its code alone.
var poolerExhaustion = []struct{ text, source string }{
	{"no more connections allowed (max_client_conn)", "pgbouncer"},
	{"maxclientsinsessionmode", "supavisor"},
	{"(emaxconnsession)", "supavisor"},
	{"(emaxconn)", "supavisor"},
	{"max client connections reached", "supavisor"},
}

// IsPoolExhausted reports whether err says that the server or a pooler in
// front of it had no connection slot left: SQLSTATE 53300, or a pooler's
// exhaustion error received while connecting. Texts in the error of a
// statement never count.
func IsPoolExhausted(err error) bool { return ExhaustionSource(err) != "" }

// ExhaustionSource says who refused the connection of an exhaustion error:
// "postgres" (53300), "pgbouncer" or "supavisor" (their errors at connect),
// or "" when err is not pool exhaustion.
func ExhaustionSource(err error) string {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) {
		return ""
	}
	if pe.Code == "53300" {
		return "postgres"
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return ""
	}
	m := strings.ToLower(pe.Message)
	for _, p := range poolerExhaustion {
		if strings.Contains(m, p.text) {
			return p.source
		}
	}
	return ""
}

// Classify says what kind of failure err is, from its structure: the
// SQLSTATE of a *pgconn.PgError, the phase it arrived in (connecting, or
// after a statement was sent), the driver's and the network's error types,
// and SQLite's result codes. It unwraps with errors.As, so errors wrapped
// by GORM or by the caller (with %w) classify as their cause. An error
// with none of these in its chain is the application's own.
//
// Classify cannot tell the caller's deadline from the pool's OpTimeout in
// a bare context.DeadlineExceeded: the executor tells them apart when the
// call ends, and marks the pool's expiry (errors.Is(err, ErrOpTimeout)).
func Classify(err error) Class {
	if err == nil {
		return OK
	}
	switch {
	case errors.Is(err, ErrCommitUnknown):
		return ConnectionLost
	case errors.Is(err, ErrOpTimeout):
		return Timeout
	}
	var ce *canceledError
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) {
		return Canceled
	}
	var conn *pgconn.ConnectError
	connecting := errors.As(err, &conn)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.Code != "53300" && connecting && ExhaustionSource(err) != "" {
			return Exhausted
		}
		c := classifyCode(pe.Code)
		if connecting && (c == ConnectionLost || c == Timeout) {
			return Transient // refused at connect (57P03 starting up, 08xxx): nothing ran
		}
		return c
	}
	if connecting {
		if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || isNetTimeout(err) {
			return Timeout // connect_timeout, or a deadline that ended the connect
		}
		return Transient // refused, unreachable, TLS, auth: nothing ran
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Canceled // the caller's own deadline (see ErrOpTimeout for the pool's)
	}
	if c, ok := classifySQLite(err); ok {
		return c
	}
	switch {
	case pgconn.SafeToRetry(err), errors.Is(err, driver.ErrBadConn), errors.Is(err, syscall.ECONNREFUSED):
		// pgconn's "nothing was written" errors; database/sql returns
		// ErrBadConn only when the driver said nothing was sent.
		return Transient
	case pgconn.Timeout(err):
		return Timeout // a network deadline inside pgconn
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, sql.ErrConnDone):
		return ConnectionLost
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ConnectionLost
	}
	for _, s := range gormConstraint {
		if errors.Is(err, s) {
			return Constraint
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) || fromDriver(err) {
		return Permanent
	}
	return Application
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// classifyCode is the class of a SQLSTATE, whatever the message says.
func classifyCode(code string) Class {
	switch {
	case code == "53300":
		return Exhausted
	case code == "40001" || code == "40P01":
		return Conflict
	case code == "42P05" || code == "26000":
		return PoolerMismatch
	case code == "57014":
		return Timeout // statement_timeout, or a cancel request (the executor relabels the caller's as Canceled)
	case code == "57P01" || code == "57P02" || code == "57P03" || strings.HasPrefix(code, "08"):
		return ConnectionLost
	case strings.HasPrefix(code, "23"):
		return Constraint
	}
	return Permanent
}

// SQLite result codes (https://sqlite.org/rescode.html); an extended code
// carries the primary one in its low byte.
const (
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteInterrupt  = 9
	sqliteConstraint = 19
)

// classifySQLite classifies an error of an SQLite driver (modernc.org/sqlite
// and its glebarez fork, whose *Error has Code() int) by its result code.
// The driver is recognised by its type's package, so that pool does not
// link SQLite into every program.
func classifySQLite(err error) (Class, bool) {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) || !strings.Contains(pkgPath(coded), "sqlite") {
		return 0, false
	}
	switch coded.Code() & 0xff {
	case sqliteBusy, sqliteLocked:
		return Transient, true // the statement did not run: the database was locked
	case sqliteInterrupt:
		return Canceled, true // interrupted by ctx
	case sqliteConstraint:
		return Constraint, true
	}
	return Permanent, true
}

func pkgPath(v any) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath()
}

// driverSentinels are the errors database/sql, pgx, GORM and this package
// make without a type of their own.
var driverSentinels = []error{
	sql.ErrNoRows, sql.ErrTxDone, driver.ErrSkip, driver.ErrRemoveArgument,
	pgx.ErrNoRows, pgx.ErrTxClosed, pgx.ErrTxCommitRollback,
	gorm.ErrRecordNotFound, gorm.ErrInvalidTransaction, gorm.ErrNotImplemented, gorm.ErrMissingWhereClause,
	gorm.ErrUnsupportedRelation, gorm.ErrPrimaryKeyRequired, gorm.ErrModelValueRequired,
	gorm.ErrModelAccessibleFieldsRequired, gorm.ErrSubQueryRequired, gorm.ErrInvalidData, gorm.ErrUnsupportedDriver,
	gorm.ErrRegistered, gorm.ErrInvalidField, gorm.ErrEmptySlice, gorm.ErrDryRunModeUnsupported, gorm.ErrInvalidDB,
	gorm.ErrInvalidValue, gorm.ErrInvalidValueOfLength, gorm.ErrPreloadNotAllowed,
	ErrQueueFull, ErrQueueTimeout, ErrClosed, ErrRetryBudget,
}

// gormConstraint are GORM's translations of constraint violations
// (gorm.Config.TranslateError), which replace the driver's error.
var gormConstraint = []error{gorm.ErrDuplicatedKey, gorm.ErrForeignKeyViolated, gorm.ErrCheckConstraintViolated}

// fromDriver reports whether err is one of the sentinels above, or has
// in its chain an error of a type defined by pgx or pgconn (a parse error
// of the DSN, say).
func fromDriver(err error) bool {
	for _, s := range driverSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return anyInChain(err, func(e error) bool { return strings.HasPrefix(pkgPath(e), "github.com/jackc/pgx/") })
}

// anyInChain reports whether f holds for err or any error it wraps, through
// Unwrap() error and Unwrap() []error.
func anyInChain(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return anyInChain(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if anyInChain(e, f) {
				return true
			}
		}
	}
	return false
}
