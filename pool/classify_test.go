package pool_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/pool"
)

func pgErr(code, msg string) error {
	// Wrapped as GORM and callers do, so that classification must unwrap.
	return fmt.Errorf("repo: find users: %w", &pgconn.PgError{Severity: "ERROR", Code: code, Message: msg})
}

// connectErr is err as pgconn returns it when a connection attempt fails.
// ConnectError's cause is unexported, so the test makes one the way the
// driver does: by connecting to a server that answers with err.
func connectErr(t *testing.T, code, msg string) error {
	t.Helper()
	return fakeServerConnect(t, &pgconn.PgError{Severity: "FATAL", Code: code, Message: msg})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		class     pool.Class
		exhausted string
	}{
		{"nil", nil, pool.OK, ""},
		// PostgreSQL: 53300 is exhaustion wherever it arrives.
		{"pg too many clients", pgErr("53300", "sorry, too many clients already"), pool.Exhausted, "postgres"},
		{"pg reserved slots (15)", pgErr("53300", "remaining connection slots are reserved for non-replication superuser connections"), pool.Exhausted, "postgres"},
		{"pg role limit", pgErr("53300", `too many connections for role "app"`), pool.Exhausted, "postgres"},
		// The poolers' texts in a statement's error are only text: a value
		// the request sent, quoted by the server.
		{"pgbouncer text in a statement error", pgErr("08P01", "no more connections allowed (max_client_conn)"), pool.ConnectionLost, ""},
		{"supavisor text in a statement error", pgErr("XX000", "(EMAXCONNSESSION) max clients reached in session mode"), pool.Permanent, ""},
		{"exhaustion text in 22P02", pgErr("22P02", `invalid input syntax for type integer: "sorry, too many clients already"`), pool.Permanent, ""},
		{"exhaustion text without any code", errors.New("FATAL: Max client connections reached"), pool.Application, ""},
		// The rest of the table.
		{"serialization", pgErr("40001", "could not serialize access due to concurrent update"), pool.Conflict, ""},
		{"deadlock", pgErr("40P01", "deadlock detected"), pool.Conflict, ""},
		{"admin shutdown", pgErr("57P01", "terminating connection due to administrator command"), pool.ConnectionLost, ""},
		{"crash shutdown", pgErr("57P02", "terminating connection because of crash of another server process"), pool.ConnectionLost, ""},
		{"protocol violation", pgErr("08P01", "invalid message format"), pool.ConnectionLost, ""},
		{"eof", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), pool.ConnectionLost, ""},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, pool.ConnectionLost, ""},
		{"conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), pool.ConnectionLost, ""},
		{"bad conn", fmt.Errorf("x: %w", driver.ErrBadConn), pool.Transient, ""},
		{"prepared exists", pgErr("42P05", `prepared statement "stmtcache_1" already exists`), pool.PoolerMismatch, ""},
		{"prepared missing", pgErr("26000", `prepared statement "stmtcache_1" does not exist`), pool.PoolerMismatch, ""},
		{"unique", pgErr("23505", "duplicate key value violates unique constraint"), pool.Constraint, ""},
		{"gorm translated unique", fmt.Errorf("x: %w", gorm.ErrDuplicatedKey), pool.Constraint, ""},
		{"not null", pgErr("23502", "null value in column"), pool.Constraint, ""},
		{"statement timeout", pgErr("57014", "canceling statement due to statement timeout"), pool.Timeout, ""},
		{"op timeout", fmt.Errorf("do: %w", pool.ErrOpTimeout), pool.Timeout, ""},
		{"ctx canceled", fmt.Errorf("do: %w", context.Canceled), pool.Canceled, ""},
		{"deadline of the caller", context.DeadlineExceeded, pool.Canceled, ""},
		{"syntax", pgErr("42601", "syntax error at or near"), pool.Permanent, ""},
		{"no rows", sql.ErrNoRows, pool.Permanent, ""},
		{"record not found", gorm.ErrRecordNotFound, pool.Permanent, ""},
		{"tx done", fmt.Errorf("commit: %w", sql.ErrTxDone), pool.Permanent, ""},
		{"queue full", pool.ErrQueueFull, pool.Permanent, ""},
		{"application", errors.New("business rule violated"), pool.Application, ""},
		{"application wrapped", fmt.Errorf("handler: %w", errors.New("no such user")), pool.Application, ""},
		{"commit unknown", fmt.Errorf("%w: %w", pool.ErrCommitUnknown, io.EOF), pool.ConnectionLost, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pool.Classify(tt.err); got != tt.class {
				t.Errorf("Classify = %s, want %s", got, tt.class)
			}
			if got := pool.IsPoolExhausted(tt.err); got != (tt.exhausted != "") {
				t.Errorf("IsPoolExhausted = %v, want %v", got, tt.exhausted != "")
			}
			if got := pool.ExhaustionSource(tt.err); got != tt.exhausted {
				t.Errorf("ExhaustionSource = %q, want %q", got, tt.exhausted)
			}
		})
	}
}

// The poolers' exhaustion errors count when they arrive while connecting,
// which is the only time a pooler sends them.
func TestClassifyAtConnect(t *testing.T) {
	tests := []struct {
		code, msg string
		class     pool.Class
		source    string
	}{
		{"08P01", "no more connections allowed (max_client_conn)", pool.Exhausted, "pgbouncer"},
		{"XX000", "MaxClientsInSessionMode: max clients reached - in Session mode max clients are limited to pool_size", pool.Exhausted, "supavisor"},
		{"XX000", "(EMAXCONNSESSION) max clients reached in session mode - max clients are limited to pool_size: 15", pool.Exhausted, "supavisor"},
		{"XX000", "(EMAXCONN) max client connections reached, limit: 200", pool.Exhausted, "supavisor"},
		{"XX000", "Max client connections reached", pool.Exhausted, "supavisor"},
		{"53300", "sorry, too many clients already", pool.Exhausted, "postgres"},
		{"57P03", "the database system is starting up", pool.Transient, ""},
		{"08P01", "invalid startup packet layout", pool.Transient, ""},
		{"28P01", "password authentication failed for user \"x\"", pool.Permanent, ""},
		{"XX000", "Tenant or user not found", pool.Permanent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			err := connectErr(t, tt.code, tt.msg)
			var ce *pgconn.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("the fake server's refusal is not a ConnectError: %v", err)
			}
			if got := pool.Classify(err); got != tt.class {
				t.Errorf("Classify(%v) = %s, want %s", err, got, tt.class)
			}
			if got := pool.ExhaustionSource(err); got != tt.source {
				t.Errorf("ExhaustionSource = %q, want %q", got, tt.source)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[pool.Class]string{
		pool.OK: "ok", pool.Exhausted: "exhausted", pool.PoolerMismatch: "pooler_mismatch",
		pool.Timeout: "timeout", pool.Application: "application", pool.Class(99): "unknown",
	} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(c), c.String(), want)
		}
	}
}

// For any statement error, whatever its message, the class follows the
// SQLSTATE alone, and only 53300 is exhaustion.
func FuzzClassifyStatementError(f *testing.F) {
	for _, s := range []struct{ code, msg string }{
		{"22P02", "sorry, too many clients already"},
		{"08P01", "no more connections allowed (max_client_conn)"},
		{"XX000", "MaxClientsInSessionMode"},
		{"XX000", "(EMAXCONNSESSION) (EMAXCONN)"},
		{"23505", "Max client connections reached"},
		{"42P01", "prepared statement \"x\" already exists"},
		{"53300", "anything"},
		{"57014", "canceling statement due to user request"},
	} {
		f.Add(s.code, s.msg)
	}
	f.Fuzz(func(t *testing.T, code, msg string) {
		err := pgErr(code, msg)
		if code != "53300" && pool.IsPoolExhausted(err) {
			t.Fatalf("IsPoolExhausted(%q, %q) = true", code, msg)
		}
		want := pool.Classify(pgErr(code, "x"))
		if got := pool.Classify(err); got != want {
			t.Fatalf("Classify(%q, %q) = %s, with another message %s", code, msg, got, want)
		}
		if want == pool.Application {
			t.Fatalf("a server error classified as the application's: %q", code)
		}
	})
}
