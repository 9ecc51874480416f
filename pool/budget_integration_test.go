package pool_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// drive runs users closed-loop callers of a 2 ms query through p for d.
func drive(t *testing.T, p *pool.Pool, users int, d time.Duration) (ok, failed int64) {
	t.Helper()
	var okN, failedN atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range users {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
					return db.Exec("select pg_sleep(0.002)").Error
				}, pool.Idempotent())
				if err != nil {
					if failedN.Add(1) == 1 {
						t.Errorf("a caller saw %v", err)
					}
					continue
				}
				okN.Add(1)
			}
		})
	}
	wg.Wait()
	return okN.Load(), failedN.Load()
}

// A role with CONNECTION LIMIT 2 behind a pool of 5: the adaptive limit
// finds the budget and lives at it. Against a pool configured at exactly 2,
// in interleaved rounds, it keeps most of the throughput (the issue's
// target is 0.9×; this asserts 0.75× for a shared, noisy machine and logs
// the figure) with no error reaching a caller.
func TestIntegrationAdaptiveLimitAtRoleBudget(t *testing.T) {
	u := testdb.Postgres(t)
	admin := openSQL(t, u)
	role := appName(t)
	if _, err := admin.Exec(fmt.Sprintf("create role %s login connection limit 2", role)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("select pg_terminate_backend(pid) from pg_stat_activity where usename = $1", role)
		admin.Exec("drop role if exists " + role)
	})
	ru, _ := url.Parse(u)
	ru.User = url.User(role)
	roleURL := ru.String()
	idle := func() { // the previous pool's backends have exited
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			if err := admin.QueryRow("select count(*) from pg_stat_activity where usename = $1", role).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d backends of the role still there", n)
			}
			time.Sleep(10 * time.Millisecond) // polling the server, bounded by the deadline
		}
	}
	run := func(open, conc int) (int64, pool.ExecutorStats) {
		idle()
		p, err := pool.Open(context.Background(), pool.Config{DatabaseURL: roleURL, Profile: pool.Production,
			MaxOpenConns: open, MaxConcurrent: conc, ApplicationName: role,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ok, failed := drive(t, p, 50, 1500*time.Millisecond)
		st := p.Stats().Executor
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if failed != 0 {
			t.Fatalf("pool of %d: %d of %d calls failed", open, failed, ok+failed)
		}
		return ok, st
	}
	const rounds = 3
	var ratios []float64
	for r := range rounds {
		five, st := run(5, 5)
		two, _ := run(2, 2)
		ratios = append(ratios, float64(five)/float64(two))
		t.Logf("round %d: pool of 5 on the role: %d calls (limit %d, exhausted at %d, %d exhaustions, %d retries); pool of exactly 2: %d calls; ratio %.2f",
			r+1, five, st.Limit, st.ExhaustedAt, st.Exhaustions, st.Retried, two, ratios[r])
		if st.Limit != 2 {
			t.Errorf("round %d: limit %d at the end, want 2 (the role's budget)", r+1, st.Limit)
		}
	}
	if m := median(ratios); m < 0.75 {
		t.Fatalf("median throughput ratio %.2f of a pool at exactly 2, want ≥ 0.75 (target 0.9)", m)
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
