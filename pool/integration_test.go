package pool_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

func appName(t *testing.T) string {
	var b [4]byte
	rand.Read(b[:])
	return "tollgate_pool_test_" + hex.EncodeToString(b[:])
}

func openPool(t *testing.T, rawURL string, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.DatabaseURL = rawURL
	p, err := pool.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

func openSQL(t *testing.T, rawURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func backends(t *testing.T, admin *sql.DB, app string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow("select count(*) from pg_stat_activity where application_name = $1", app).Scan(&n); err != nil {
		t.Error(err)
	}
	return n
}

// (a) 200 goroutines through a Production pool: no errors, and the server
// never sees more than MaxOpenConns connections from it.
func TestIntegrationProductionStaysInBudget(t *testing.T) {
	u := testdb.Postgres(t)
	app := appName(t)
	p := openPool(t, u, pool.Config{Profile: pool.Production, ApplicationName: app})
	admin := openSQL(t, u)

	done := make(chan struct{})
	var peak atomic.Int64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if n := int64(backends(t, admin, app)); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var errs atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			for range 3 {
				err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
					return db.Exec("select pg_sleep(0.002)").Error
				}, pool.Idempotent())
				if err != nil {
					errs.Add(1)
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	sampler.Wait()
	s := p.Stats()
	if errs.Load() != 0 {
		t.Fatalf("%d errors", errs.Load())
	}
	if peak.Load() == 0 || peak.Load() > 5 {
		t.Fatalf("server saw up to %d connections from the pool, want 1..5 (MaxOpenConns)", peak.Load())
	}
	if s.Executor.Processed < 600 || s.DB.MaxOpenConnections != 5 || s.DB.WaitCount != 0 {
		t.Fatalf("stats = %+v: want 600 calls, MaxOpen 5 and database/sql never queueing", s)
	}
	t.Logf("peak server connections %d; queue wait p50 %s p99 %s", peak.Load(), s.Executor.QueueWaitP50, s.Executor.QueueWaitP99)
}

// (b) The seed's failure: plain GORM through a session-mode PgBouncer with
// max_client_conn=15 fails under 50 users; tollgate does not.
func TestIntegrationSessionPoolerSeedFailure(t *testing.T) {
	u := testdb.PgBouncerSession(t)
	const users = 50
	run := func(do func(context.Context) error) (fails int64, sample error) {
		var n atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range users {
			wg.Go(func() {
				for range 2 {
					if err := do(context.Background()); err != nil {
						if n.Add(1) == 1 {
							mu.Lock()
							sample = err
							mu.Unlock()
						}
					}
				}
			})
		}
		wg.Wait()
		return n.Load(), sample
	}

	plain, err := gorm.Open(postgres.Open(u), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	fails, sample := run(func(ctx context.Context) error {
		return plain.WithContext(ctx).Exec("select pg_sleep(0.05)").Error
	})
	if sqlDB, err := plain.DB(); err == nil {
		sqlDB.Close()
	}
	if fails == 0 {
		t.Fatal("plain GORM had no errors: the session pooler does not reproduce the seed's failure")
	}
	if !pool.IsPoolExhausted(sample) || pool.ExhaustionSource(sample) != "pgbouncer" || pool.Classify(sample) != pool.Exhausted {
		t.Fatalf("plain GORM failed with %v, want PgBouncer's pool-exhaustion error (at connect)", sample)
	}
	t.Logf("plain GORM: %d of %d calls failed, e.g. %v", fails, 2*users, sample)

	p := openPool(t, u, pool.Config{Profile: pool.Production})
	fails, sample = run(func(ctx context.Context) error {
		return p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("select pg_sleep(0.05)").Error })
	})
	if fails != 0 {
		t.Fatalf("tollgate: %d calls failed, e.g. %v", fails, sample)
	}
}

// (c) MaxConcurrent = 1: a transaction whose function makes three more
// calls with its ctx finishes; a call with another ctx queues behind it.
func TestIntegrationTransactionJoinsWithoutSecondSlot(t *testing.T) {
	u := testdb.Postgres(t)
	p := openPool(t, u, pool.Config{MaxOpenConns: 1, MaxConcurrent: 1, QueueTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pids []int
	err := p.Transaction(ctx, func(txCtx context.Context) error {
		for range 3 {
			var pid int
			if err := p.Do(txCtx, func(ctx context.Context, db *gorm.DB) error {
				return db.Raw("select pg_backend_pid()").Scan(&pid).Error
			}); err != nil {
				return err
			}
			pids = append(pids, pid)
		}
		// Not the transaction's ctx: it waits for a slot the transaction holds.
		err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("select 1").Error })
		if !errors.Is(err, pool.ErrQueueTimeout) {
			return fmt.Errorf("call outside the transaction's ctx: %v, want ErrQueueTimeout", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 3 || pids[0] != pids[1] || pids[1] != pids[2] {
		t.Fatalf("the three calls ran on backends %v, want one (the transaction's)", pids)
	}
	if s := p.Stats(); s.DB.InUse != 0 || s.Executor.InFlight != 0 {
		t.Fatalf("after the transaction: %+v", s)
	}
}

// (d) Through the transaction-mode PgBouncer with pgbouncer=true, 100
// goroutines of parameterised queries: no prepared-statement errors.
func TestIntegrationTransactionPoolerMode(t *testing.T) {
	u := testdb.PgBouncerTx(t)
	withFlag := u + "&pgbouncer=true"
	if !strings.Contains(u, "?") {
		withFlag = u + "?pgbouncer=true"
	}
	p := openPool(t, withFlag, pool.Config{MaxOpenConns: 10, MaxConcurrent: 10})
	if !p.Stats().PgBouncer {
		t.Fatal("pgbouncer=true did not select transaction-pooler mode")
	}
	var errs atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			for j := range 5 {
				var got int
				err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
					return db.Raw("select ?::int + ?::int", i, j).Scan(&got).Error
				}, pool.Idempotent())
				if err != nil || got != i+j {
					errs.Add(1)
					t.Errorf("query %d+%d = %d, %v (class %s)", i, j, got, err, pool.Classify(err))
				}
			}
		})
	}
	wg.Wait()
	if errs.Load() != 0 {
		t.Fatalf("%d failures", errs.Load())
	}
}

// A role with CONNECTION LIMIT 1 gives the real 53300; the pool classifies
// it, halves its limit, cleans up, and its callers see no error.
func TestIntegrationServerExhaustion53300(t *testing.T) {
	u := testdb.Postgres(t)
	admin := openSQL(t, u)
	role := appName(t)
	if _, err := admin.Exec(fmt.Sprintf("create role %s login connection limit 1", role)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("select pg_terminate_backend(pid) from pg_stat_activity where usename = $1", role)
		admin.Exec("drop role if exists " + role)
	})
	ru, _ := url.Parse(u)
	const secret = "pw_Zz9s3cret" // trust auth ignores it; nothing may print it
	ru.User = url.UserPassword(role, secret)
	roleURL := ru.String()
	var logs syncBuffer

	// The raw error, straight from the server.
	c1, err := pgx.Connect(context.Background(), roleURL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pgx.Connect(context.Background(), roleURL)
	c1.Close(context.Background())
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" || pool.Classify(err) != pool.Exhausted {
		t.Fatalf("second connection: %v, want 53300 classified exhausted", err)
	}

	p := openPool(t, roleURL, pool.Config{MaxOpenConns: 3, MaxConcurrent: 3, Retry: pool.RetryConfig{Attempts: 6},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	var errs atomic.Int64
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
				return db.Exec("select pg_sleep(0.005)").Error
			}); err != nil {
				errs.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s := p.Stats()
	if errs.Load() != 0 {
		t.Fatalf("%d calls failed", errs.Load())
	}
	if s.Executor.Exhaustions == 0 || s.Executor.LimitDecreases == 0 || s.Executor.Limit >= 3 || s.Cleanups == 0 {
		t.Fatalf("stats = %+v: want exhaustion seen, limit lowered, cleanup run", s.Executor)
	}
	if s.LastError.Class != pool.Exhausted {
		t.Fatalf("LastError = %+v, want the exhaustion recorded", s.LastError)
	}
	out := logs.String()
	if !strings.Contains(out, "connection pool exhausted") || !strings.Contains(out, "retrying") {
		t.Fatalf("logs lack the exhaustion and retry events:\n%s", out)
	}
	if strings.Contains(out, secret) || strings.Contains(s.LastError.Message, secret) || strings.Contains(p.Config().DatabaseURL, secret) {
		t.Fatalf("the password leaked into logs, LastError or Config")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The session-mode PgBouncer's own refusal is a real 08P01 the classifier
// recognises.
func TestIntegrationPgBouncerMaxClientConn(t *testing.T) {
	u := testdb.PgBouncerSession(t)
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			c.Close(context.Background())
		}
	}()
	var err error
	for range 20 {
		var c *pgx.Conn
		if c, err = pgx.Connect(context.Background(), u); err != nil {
			break
		}
		conns = append(conns, c)
	}
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || pe.Code != "08P01" || !pool.IsPoolExhausted(err) || pool.Classify(err) != pool.Exhausted {
		t.Fatalf("after %d connections: %v, want 08P01 max_client_conn classified exhausted", len(conns), err)
	}
	if !strings.Contains(pe.Message, "max_client_conn") {
		t.Fatalf("message %q", pe.Message)
	}
}

// OpTimeout reaches the server: a long query is cancelled by the
// operation deadline, and the connection comes back usable.
func TestIntegrationOpTimeoutCancelsQuery(t *testing.T) {
	p := openPool(t, testdb.Postgres(t), pool.Config{MaxOpenConns: 1, OpTimeout: 200 * time.Millisecond})
	start := time.Now()
	err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("select pg_sleep(5)").Error
	}, pool.Idempotent())
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("the query ran %s, want it cancelled near the 200ms OpTimeout", elapsed)
	}
	if pool.Classify(err) != pool.Timeout || !errors.Is(err, pool.ErrOpTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v (class %s), want the pool's timeout", err, pool.Classify(err))
	}
	if s := p.Stats(); s.Executor.Retried != 0 {
		t.Fatalf("a timed-out call was retried: %+v", s.Executor)
	}
	if err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error { return db.Exec("select 1").Error }); err != nil {
		t.Fatalf("the pool is unusable after a timeout: %v", err)
	}
}
