package health_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/pool"
)

// fakeSource is a counting Source: its stats are set by the test, its
// pings are counted and may be made to block or fail.
type fakeSource struct {
	mu       sync.Mutex
	stats    pool.Stats
	pingErr  error
	block    chan struct{} // when non-nil, Ping waits for it (or ctx)
	pings    atomic.Int64
	cleanups atomic.Int64
}

func newFake() *fakeSource {
	return &fakeSource{stats: pool.Stats{
		DB:       sqlStats(5, 1, 2),
		Executor: pool.ExecutorStats{Limit: 3, MaxConcurrent: 3, MaxQueue: 10000},
		Profile:  pool.Production,
	}}
}

func (f *fakeSource) Stats() pool.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeSource) set(fn func(*pool.Stats)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.stats)
}

func (f *fakeSource) Ping(ctx context.Context) error {
	f.pings.Add(1)
	f.mu.Lock()
	block, err := f.block, f.pingErr
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (f *fakeSource) Cleanup(ctx context.Context) (pool.CleanupResult, error) {
	f.cleanups.Add(1)
	return pool.CleanupResult{OpenBefore: 3, OpenAfter: 1, IdleClosed: 2, InUse: 1, Duration: time.Millisecond}, nil
}

// pingCounter wraps a real pool and counts its pings.
type pingCounter struct {
	*pool.Pool
	pings atomic.Int64
}

func (c *pingCounter) Ping(ctx context.Context) error {
	c.pings.Add(1)
	return c.Pool.Ping(ctx)
}

// openSQLite opens a real pool on a temporary SQLite file.
func openSQLite(t *testing.T, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.Dialector = sqlite.Open(filepath.Join(t.TempDir(), "health.db") + "?_pragma=busy_timeout(5000)")
	if cfg.Profile == "" {
		cfg.Profile = pool.Development
	}
	p, err := pool.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

// holdSlots occupies n executor slots of p, each on its own connection,
// until the returned release is called.
func holdSlots(t *testing.T, p *pool.Pool, n int) (release func()) {
	t.Helper()
	hold := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_ = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
				// Connection pins one *sql.Conn for the whole function.
				return db.Connection(func(tx *gorm.DB) error {
					var one int
					if err := tx.Raw("SELECT 1").Scan(&one).Error; err != nil {
						return err
					}
					<-hold
					return nil
				})
			})
		})
	}
	waitFor(t, func() bool { st := p.Stats(); return st.Executor.InFlight == n && st.DB.InUse == n })
	var once sync.Once
	release = func() { once.Do(func() { close(hold); wg.Wait() }) }
	t.Cleanup(release)
	return release
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond) // polling interval, bounded by the deadline
	}
}
