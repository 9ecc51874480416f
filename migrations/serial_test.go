package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

// While a slow Up runs, other calls of the same Migrator wait for it
// only as long as their ctx and LockTimeout allow, although goose's own
// mutex ignores both.
func TestSameMigratorCallsHonourCtx(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T, ctx context.Context) *pool.Pool
	}{
		{"sqlite", sqlitePool},
		{"postgres", func(t *testing.T, ctx context.Context) *pool.Pool {
			return openPool(t, ctx, pool.Config{DatabaseURL: freshDatabase(t, false).direct})
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := testCtx(t)
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unblock)
			const lockTimeout = 300 * time.Millisecond
			m := newMigrator(t, b.open(t, ctx), migrations.Config{LockTimeout: lockTimeout,
				GoMigrations: []migrations.Migration{{Version: 1, Name: "slow", Up: func(ctx context.Context, _ *sql.Tx) error {
					close(entered)
					<-release
					return nil
				}}}})
			done := make(chan error, 1)
			go func() { _, err := m.Up(ctx); done <- err }()
			<-entered

			short := func() context.Context {
				c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				t.Cleanup(cancel)
				return c
			}
			for _, tc := range []struct {
				name string
				call func() error
				want error
			}{
				{"Status, short ctx", func() error { _, err := m.Status(short()); return err }, context.DeadlineExceeded},
				{"Version, short ctx", func() error { _, err := m.Version(short()); return err }, context.DeadlineExceeded},
				{"Up, short ctx", func() error { _, err := m.Up(short()); return err }, context.DeadlineExceeded},
				{"Status, LockTimeout", func() error { _, err := m.Status(ctx); return err }, migrations.ErrLocked},
				{"Version, LockTimeout", func() error { _, err := m.Version(ctx); return err }, migrations.ErrLocked},
				{"Down, LockTimeout", func() error { _, err := m.Down(ctx); return err }, migrations.ErrLocked},
			} {
				res := make(chan error, 1)
				start := time.Now()
				go func() { res <- tc.call() }()
				select {
				case err := <-res:
					if !errors.Is(err, tc.want) {
						t.Errorf("%s while Up runs = %v, want %v", tc.name, err, tc.want)
					}
					t.Logf("%s returned after %s: %v", tc.name, time.Since(start).Round(time.Millisecond), err)
				case <-time.After(10 * lockTimeout):
					unblock()
					t.Fatalf("%s still waiting %s after it started (ctx 100ms, LockTimeout %s)", tc.name, 10*lockTimeout, lockTimeout)
				}
			}

			unblock()
			if err := <-done; err != nil {
				t.Fatalf("the slow Up: %v", err)
			}
			if v, err := m.Version(ctx); err != nil || v != 1 {
				t.Fatalf("Version after Up = %d, %v; want 1", v, err)
			}
		})
	}
}
