package pool_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tollgate-db/tollgate/pool"
)

func pgErr(code, msg string) error {
	// Wrapped as GORM and callers do, so that classification must unwrap.
	return fmt.Errorf("repo: find users: %w", &pgconn.PgError{Severity: "FATAL", Code: code, Message: msg})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		class     pool.Class
		exhausted bool
	}{
		{"nil", nil, pool.OK, false},
		// PostgreSQL, both 53300 messages and the per-role/database limits.
		{"pg too many clients", pgErr("53300", "sorry, too many clients already"), pool.Exhausted, true},
		{"pg reserved slots (15)", pgErr("53300", "remaining connection slots are reserved for non-replication superuser connections"), pool.Exhausted, true},
		{"pg reserved slots (16+)", pgErr("53300", "remaining connection slots are reserved for roles with the SUPERUSER attribute"), pool.Exhausted, true},
		{"pg role limit", pgErr("53300", `too many connections for role "app"`), pool.Exhausted, true},
		// PgBouncer.
		{"pgbouncer max_client_conn", pgErr("08P01", "no more connections allowed (max_client_conn)"), pool.Exhausted, true},
		// Supavisor, old and new texts, generic SQLSTATE.
		{"supavisor session (old)", pgErr("XX000", "MaxClientsInSessionMode: max clients reached - in Session mode max clients are limited to pool_size"), pool.Exhausted, true},
		{"supavisor session (new)", pgErr("XX000", "(EMAXCONNSESSION) max clients reached in session mode - max clients are limited to pool_size: 15"), pool.Exhausted, true},
		{"supavisor client cap", pgErr("XX000", "(EMAXCONN) max client connections reached, limit: 200"), pool.Exhausted, true},
		{"supavisor as plain text", errors.New("FATAL: Max client connections reached"), pool.Exhausted, true},
		{"prisma-style text", errors.New("Error querying the database: FATAL: MaxClientsInSessionMode: max clients reached"), pool.Exhausted, true},
		// The rest of the table.
		{"serialization", pgErr("40001", "could not serialize access due to concurrent update"), pool.Conflict, false},
		{"deadlock", pgErr("40P01", "deadlock detected"), pool.Conflict, false},
		{"admin shutdown", pgErr("57P01", "terminating connection due to administrator command"), pool.ConnectionLost, false},
		{"crash shutdown", pgErr("57P02", "terminating connection because of crash of another server process"), pool.ConnectionLost, false},
		{"protocol violation", pgErr("08P01", "invalid message format"), pool.ConnectionLost, false},
		{"eof", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), pool.ConnectionLost, false},
		{"server closed", errors.New("server closed the connection unexpectedly"), pool.ConnectionLost, false},
		{"prepared exists", pgErr("42P05", `prepared statement "stmtcache_1" already exists`), pool.PoolerMismatch, false},
		{"prepared missing", pgErr("26000", `prepared statement "stmtcache_1" does not exist`), pool.PoolerMismatch, false},
		{"unique", pgErr("23505", "duplicate key value violates unique constraint"), pool.Constraint, false},
		{"not null", pgErr("23502", "null value in column"), pool.Constraint, false},
		{"statement timeout", pgErr("57014", "canceling statement due to statement timeout"), pool.Canceled, false},
		{"ctx canceled", fmt.Errorf("do: %w", context.Canceled), pool.Canceled, false},
		{"deadline", context.DeadlineExceeded, pool.Canceled, false},
		{"syntax", pgErr("42601", "syntax error at or near"), pool.Permanent, false},
		{"plain", errors.New("record not found"), pool.Permanent, false},
		{"commit unknown", fmt.Errorf("%w: %w", pool.ErrCommitUnknown, io.EOF), pool.ConnectionLost, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pool.Classify(tt.err); got != tt.class {
				t.Errorf("Classify = %s, want %s", got, tt.class)
			}
			if got := pool.IsPoolExhausted(tt.err); got != tt.exhausted {
				t.Errorf("IsPoolExhausted = %v, want %v", got, tt.exhausted)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[pool.Class]string{pool.OK: "ok", pool.Exhausted: "exhausted", pool.PoolerMismatch: "pooler_mismatch", pool.Class(99): "unknown"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(c), c.String(), want)
		}
	}
}
