package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3/lock"
)

// lockRetryInterval is how often a waiting migrator retries the lock: a
// twentieth of the timeout, between 25ms and 500ms.
func lockRetryInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/20, 25*time.Millisecond), 500*time.Millisecond)
}

// newPostgresLocker returns goose's table-lease locker, which keeps the
// lock in a row instead of a session advisory lock and therefore works
// through transaction poolers, wrapped so that running out of time is
// reported as ErrLocked.
func newPostgresLocker(table string, timeout time.Duration, log *slog.Logger) (lock.Locker, error) {
	interval := lockRetryInterval(timeout)
	tries := uint64((timeout + interval - 1) / interval)
	l, err := lock.NewPostgresTableLocker(
		lock.WithTableName(table+"_lock"),
		lock.WithTableLockTimeout(interval, tries),
		lock.WithTableLogger(log),
		// Wait only while another instance holds the lock; a database
		// error (permissions, a lost connection) fails at once.
		lock.WithTableRetryPolicy(isContention),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: lock: %v", ErrInvalidConfig, err)
	}
	return &lockGuard{inner: l, timeout: timeout}, nil
}

// isContention tells a lock held by someone else from a database error:
// goose reports the former without wrapping any driver error.
func isContention(err error) bool {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return !errors.As(err, &pgErr) && !errors.As(err, &connErr) && !errors.As(err, &netErr) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// lockGuard maps a lock that could not be had in time to ErrLocked.
type lockGuard struct {
	inner   lock.Locker
	timeout time.Duration
}

func (g *lockGuard) Lock(ctx context.Context, db *sql.DB) error {
	err := g.inner.Lock(ctx, db)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("migrations: waiting for the lock: %w", ctx.Err())
	case isContention(err):
		return fmt.Errorf("%w (waited %s): %v", ErrLocked, g.timeout, err)
	}
	return fmt.Errorf("migrations: lock: %w", err)
}

func (g *lockGuard) Unlock(ctx context.Context, db *sql.DB) error {
	return g.inner.Unlock(ctx, db)
}

// processLock serialises the SQLite migrators of this process: SQLite has
// no lock table, and one process owns an embedded database file.
var processLock = make(chan struct{}, 1)

type localLocker struct{ timeout time.Duration }

func (l localLocker) Lock(ctx context.Context, _ *sql.DB) error {
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	select {
	case processLock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("migrations: waiting for the lock: %w", ctx.Err())
	case <-t.C:
		return fmt.Errorf("%w (waited %s in this process)", ErrLocked, l.timeout)
	}
}

func (l localLocker) Unlock(context.Context, *sql.DB) error {
	<-processLock
	return nil
}
