package health_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// openPG opens a pool on the real PostgreSQL server at rawURL.
func openPG(t *testing.T, rawURL string, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.DatabaseURL = rawURL
	if cfg.Profile == "" {
		cfg.Profile = pool.Production
	}
	p, err := pool.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

// checkHTTP asks the handler, as a probe would, and decodes the report.
func checkHTTP(t *testing.T, hc *health.Checker) (int, health.Report) {
	t.Helper()
	rec := get(t, hc.Handler(), "/api/health/database")
	return rec.Code, decodeReport(t, rec)
}

func hasCode(ws []health.Warning, code string) (health.Warning, bool) {
	i := slices.IndexFunc(ws, func(w health.Warning) bool { return w.Code == code })
	if i < 0 {
		return health.Warning{}, false
	}
	return ws[i], true
}

// An idle pool that has served a few calls warns of nothing.
func TestPGIdlePoolHasNoWarnings(t *testing.T) {
	p := openPG(t, testdb.Postgres(t), pool.Config{})
	hc := health.New(p, health.Config{})
	defer hc.Close()
	for range 30 {
		if err := p.Do(t.Context(), func(ctx context.Context, db *gorm.DB) error {
			return db.Exec("SELECT 1").Error
		}); err != nil {
			t.Fatal(err)
		}
	}
	code, r := checkHTTP(t, hc)
	if code != 200 || r.Status != health.StatusHealthy || len(r.Warnings) != 0 {
		t.Fatalf("idle pool: %d %q, warnings %+v", code, r.Status, r.Warnings)
	}
}

// The seed's "10+ concurrent users" on a pool of 2: 20 callers, each
// holding its connection, saturate it. The report warns of the
// utilization of both the connections and the executor and of the queue,
// stays 200 (degraded, as before), and the warnings go once the callers do.
func TestPGSaturatedPoolWarns(t *testing.T) {
	p := openPG(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 2, MaxConcurrent: 2})
	hc := health.New(p, health.Config{})
	defer hc.Close()
	if _, r := checkHTTP(t, hc); len(r.Warnings) != 0 {
		t.Fatalf("before the load: %+v", r.Warnings)
	}

	hold := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 20 {
		wg.Go(func() {
			err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
				return db.Connection(func(tx *gorm.DB) error {
					if err := tx.Exec("SELECT pg_sleep(0.01)").Error; err != nil {
						return err
					}
					<-hold
					return nil
				})
			})
			if err != nil {
				failed.Add(1)
			}
		})
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
			wg.Wait()
		}
	}
	defer release()
	waitFor(t, func() bool {
		st := p.Stats()
		return st.Executor.InFlight == 2 && st.DB.InUse == 2 && st.Executor.QueueLength == 18
	})

	code, r := checkHTTP(t, hc)
	want := []string{health.WarnPoolUtilization, health.WarnExecutorUtilization, health.WarnQueueLength}
	if got := codes(r.Warnings); code != 200 || r.Status != health.StatusDegraded || !slices.Equal(got, want) {
		t.Fatalf("saturated: %d %q, warnings %v; want 200 degraded with %v: %+v", code, r.Status, got, want, r.Warnings)
	}
	if w, _ := hasCode(r.Warnings, health.WarnQueueLength); w.Value != 18 || w.Threshold != 2 {
		t.Fatalf("queue warning %+v, want 18 waiting over 2", w)
	}
	if w, _ := hasCode(r.Warnings, health.WarnPoolUtilization); w.Value != 100 || w.Threshold != 80 {
		t.Fatalf("utilization warning %+v, want 100 over 80", w)
	}

	release()
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	code, r = checkHTTP(t, hc)
	if code != 200 || r.Status != health.StatusHealthy || len(r.Warnings) != 0 {
		t.Fatalf("after the load: %d %q, warnings %+v", code, r.Status, r.Warnings)
	}
}

// runMix makes n calls, 8 at a time, of which every failEvery-th fails in
// the database (division by zero, SQLSTATE 22012).
func runMix(t *testing.T, p *pool.Pool, n, failEvery int) (failed int64) {
	t.Helper()
	var wg sync.WaitGroup
	var nFailed atomic.Int64
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				q := "SELECT 1"
				if i%failEvery == 0 {
					q = "SELECT 1/0"
				}
				if err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
					return db.Exec(q).Error
				}); err != nil {
					nFailed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return nFailed.Load()
}

// A 5 % failure mix warns of the error rate, with the exact figure, and the
// status stays healthy (200); 0.5 % does not warn.
func TestPGErrorRateWarns(t *testing.T) {
	p := openPG(t, testdb.Postgres(t), pool.Config{})

	hc := health.New(p, health.Config{})
	defer hc.Close()
	if n := runMix(t, p, 200, 20); n != 10 {
		t.Fatalf("%d of 200 calls failed, want 10", n)
	}
	code, r := checkHTTP(t, hc)
	w, ok := hasCode(r.Warnings, health.WarnErrorRate)
	if code != 200 || r.Status != health.StatusHealthy || !ok || w.Value != 5 || w.Threshold != 1 || len(r.Warnings) != 1 {
		t.Fatalf("5%% mix: %d %q, warnings %+v; want 200 healthy, error_rate_high 5 over 1", code, r.Status, r.Warnings)
	}

	hc2 := health.New(p, health.Config{}) // a fresh window
	defer hc2.Close()
	if n := runMix(t, p, 200, 200); n != 1 {
		t.Fatalf("%d of 200 calls failed, want 1", n)
	}
	if _, r := checkHTTP(t, hc2); len(r.Warnings) != 0 {
		t.Fatalf("0.5%% mix: warnings %+v", r.Warnings)
	}
}

// What is not the database's failure does not count: 200 calls of which
// 20 end in the application's own error, 10 in the caller's cancellation
// mid-statement and 10 in a unique violation warn of nothing; 10 database
// failures more (about 4 %) do.
func TestPGErrorRateCountsDatabaseFailuresOnly(t *testing.T) {
	u := testdb.Postgres(t)
	p := openPG(t, u, pool.Config{})
	var b [4]byte
	rand.Read(b[:])
	table := "tollgate_health_rate_" + hex.EncodeToString(b[:])
	if err := p.Do(t.Context(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("CREATE TABLE " + table + " (id int PRIMARY KEY)").Error
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error { return db.Exec("DROP TABLE IF EXISTS " + table).Error })
	})
	if err := p.Do(t.Context(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("INSERT INTO " + table + " VALUES (1)").Error
	}); err != nil {
		t.Fatal(err)
	}

	hc := health.New(p, health.Config{})
	defer hc.Close()
	errBusiness := errors.New("business rule violated")
	var wg sync.WaitGroup
	var next atomic.Int64
	var unexpected atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > 200 {
					return
				}
				ctx, cancel := context.WithCancel(context.Background())
				var err error
				switch {
				case i%10 == 1: // 20 application errors
					err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
						if err := db.Exec("SELECT 1").Error; err != nil {
							return err
						}
						return errBusiness
					})
					if !errors.Is(err, errBusiness) {
						unexpected.Add(1)
					}
				case i%20 == 2: // 10 cancellations while the statement runs
					time.AfterFunc(20*time.Millisecond, cancel)
					err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("SELECT pg_sleep(2)").Error })
					if !errors.Is(err, context.Canceled) {
						unexpected.Add(1)
					}
				case i%20 == 3: // 10 unique violations
					err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
						return db.Exec("INSERT INTO " + table + " VALUES (1)").Error
					})
					if pool.Classify(err) != pool.Constraint {
						unexpected.Add(1)
					}
				default:
					if err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("SELECT 1").Error }); err != nil {
						unexpected.Add(1)
					}
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if n := unexpected.Load(); n != 0 {
		t.Fatalf("%d calls did not end as planned", n)
	}
	code, r := checkHTTP(t, hc)
	if _, ok := hasCode(r.Warnings, health.WarnErrorRate); ok || code != 200 {
		t.Fatalf("no database failure, yet %d, warnings %+v (DatabaseFailures %d)", code, r.Warnings, p.Stats().DatabaseFailures)
	}
	if n := runMix(t, p, 10, 1); n != 10 { // every one fails in the database
		t.Fatalf("%d of 10 failed", n)
	}
	_, r = checkHTTP(t, hc)
	w, ok := hasCode(r.Warnings, health.WarnErrorRate)
	if !ok || w.Value < 4 || w.Value > 5 {
		t.Fatalf("10 database failures in 210 calls: warnings %+v, want error_rate_high near 4.8", r.Warnings)
	}
}

// A role with CONNECTION LIMIT 1 under a pool of 3 gives the real 53300:
// the executor halves its limit, and the report says the limit is below
// its ceiling.
func TestPGLimitBelowCeilingWarns(t *testing.T) {
	u := testdb.Postgres(t)
	admin, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [4]byte
	rand.Read(b[:])
	role := "tollgate_health_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN CONNECTION LIMIT 1", role)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		admin.Exec("DROP ROLE IF EXISTS " + role)
	})
	ru, _ := url.Parse(u)
	ru.User = url.User(role)

	p := openPG(t, ru.String(), pool.Config{MaxOpenConns: 3, MaxConcurrent: 3, Retry: pool.RetryConfig{Attempts: 6},
		Logger: slog.New(slog.DiscardHandler)}) // the exhaustion is expected
	hc := health.New(p, health.Config{})
	defer hc.Close()
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			_ = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
				return db.Exec("SELECT pg_sleep(0.005)").Error
			})
		})
	}
	wg.Wait()
	st := p.Stats()
	if st.Executor.Limit >= 3 {
		t.Fatalf("no exhaustion lowered the limit: %+v", st.Executor)
	}
	code, r := checkHTTP(t, hc)
	w, ok := hasCode(r.Warnings, health.WarnLimitReduced)
	if code != 200 || !ok || w.Threshold != 3 || w.Value != float64(r.ConnectionManager.Limit) {
		t.Fatalf("limit %d of 3: %d, warnings %+v", r.ConnectionManager.Limit, code, r.Warnings)
	}
}
