package metrics_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/metrics"
	"github.com/tollgate-db/tollgate/pool"
)

type statsFunc func() pool.Stats

func (f statsFunc) Stats() pool.Stats { return f() }

func fixed(s pool.Stats) metrics.Source { return statsFunc(func() pool.Stats { return s }) }

func TestCollectorValues(t *testing.T) {
	st := pool.Stats{
		DB: sql.DBStats{MaxOpenConnections: 5, OpenConnections: 4, InUse: 3, Idle: 1,
			WaitCount: 7, WaitDuration: 1500 * time.Millisecond, MaxIdleClosed: 2},
		Utilization: 60,
		Executor: pool.ExecutorStats{QueueLength: 2, InFlight: 3, Limit: 3, MaxConcurrent: 3, MaxQueue: 10000,
			Processed: 100, Failed: 4, Retried: 2, Rejected: 1, TimedOut: 5, Exhaustions: 3, LimitDecreases: 1,
			QueueWaitP99: 250 * time.Millisecond},
		Cleanups:  2,
		LastError: pool.ErrorInfo{Class: pool.Exhausted, Message: "x", At: time.Unix(1700000000, 0)},
		TimedOut:  6, AppErrors: 7, ExhaustedPostgres: 8, ExhaustedPgBouncer: 9, ExhaustedSupavisor: 10,
	}
	c := metrics.NewCollector(fixed(st), "", prometheus.Labels{"pool": "primary"})
	for _, tc := range []struct {
		name, want string
	}{
		{"tollgate_db_connections_in_use", `# HELP tollgate_db_connections_in_use Connections in use now.
# TYPE tollgate_db_connections_in_use gauge
tollgate_db_connections_in_use{pool="primary"} 3
`},
		{"tollgate_db_utilization_ratio", `# HELP tollgate_db_utilization_ratio Connections in use divided by MaxOpenConns (0 to 1).
# TYPE tollgate_db_utilization_ratio gauge
tollgate_db_utilization_ratio{pool="primary"} 0.6
`},
		{"tollgate_db_wait_count_total", `# HELP tollgate_db_wait_count_total Times database/sql made a caller wait for a connection.
# TYPE tollgate_db_wait_count_total counter
tollgate_db_wait_count_total{pool="primary"} 7
`},
		{"tollgate_db_wait_duration_seconds_total", `# HELP tollgate_db_wait_duration_seconds_total Total time callers waited for a database/sql connection.
# TYPE tollgate_db_wait_duration_seconds_total counter
tollgate_db_wait_duration_seconds_total{pool="primary"} 1.5
`},
		{"tollgate_executor_queue_length", `# HELP tollgate_executor_queue_length Calls waiting for an executor slot now.
# TYPE tollgate_executor_queue_length gauge
tollgate_executor_queue_length{pool="primary"} 2
`},
		{"tollgate_executor_saturated", `# HELP tollgate_executor_saturated 1 when a new call would have to wait for a slot, else 0.
# TYPE tollgate_executor_saturated gauge
tollgate_executor_saturated{pool="primary"} 1
`},
		{"tollgate_executor_queue_wait_p99_seconds", `# HELP tollgate_executor_queue_wait_p99_seconds 99th percentile wait for a slot over the last one to two minutes.
# TYPE tollgate_executor_queue_wait_p99_seconds gauge
tollgate_executor_queue_wait_p99_seconds{pool="primary"} 0.25
`},
		{"tollgate_executor_timed_out_total", `# HELP tollgate_executor_timed_out_total Calls that gave up waiting in the queue (QueueTimeout).
# TYPE tollgate_executor_timed_out_total counter
tollgate_executor_timed_out_total{pool="primary"} 5
`},
		{"tollgate_pool_timed_out_total", `# HELP tollgate_pool_timed_out_total Calls that ended in a timeout (OpTimeout, statement_timeout, a connect timeout).
# TYPE tollgate_pool_timed_out_total counter
tollgate_pool_timed_out_total{pool="primary"} 6
`},
		{"tollgate_pool_application_errors_total", `# HELP tollgate_pool_application_errors_total Calls that ended with the application's own error (not a database failure).
# TYPE tollgate_pool_application_errors_total counter
tollgate_pool_application_errors_total{pool="primary"} 7
`},
		{"tollgate_pool_exhausted_postgres_total", `# HELP tollgate_pool_exhausted_postgres_total Attempts refused for lack of connection slots by PostgreSQL (53300).
# TYPE tollgate_pool_exhausted_postgres_total counter
tollgate_pool_exhausted_postgres_total{pool="primary"} 8
`},
		{"tollgate_pool_exhausted_pgbouncer_total", `# HELP tollgate_pool_exhausted_pgbouncer_total Attempts refused for lack of connection slots by PgBouncer (max_client_conn).
# TYPE tollgate_pool_exhausted_pgbouncer_total counter
tollgate_pool_exhausted_pgbouncer_total{pool="primary"} 9
`},
		{"tollgate_pool_exhausted_supavisor_total", `# HELP tollgate_pool_exhausted_supavisor_total Attempts refused for lack of connection slots by Supavisor.
# TYPE tollgate_pool_exhausted_supavisor_total counter
tollgate_pool_exhausted_supavisor_total{pool="primary"} 10
`},
		{"tollgate_pool_cleanups_total", `# HELP tollgate_pool_cleanups_total Cleanup runs, manual and automatic.
# TYPE tollgate_pool_cleanups_total counter
tollgate_pool_cleanups_total{pool="primary"} 2
`},
		{"tollgate_pool_last_error_timestamp_seconds", `# HELP tollgate_pool_last_error_timestamp_seconds Unix time of the last classified failure; 0 when none.
# TYPE tollgate_pool_last_error_timestamp_seconds gauge
tollgate_pool_last_error_timestamp_seconds{pool="primary"} 1.7e+09
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), tc.name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The queue-wait histogram is cumulative, in seconds, with the executor's
// power-of-two bounds.
func TestCollectorQueueWaitHistogram(t *testing.T) {
	var st pool.Stats
	st.Executor.QueueWait.Buckets[0] = 5  // no wait
	st.Executor.QueueWait.Buckets[10] = 3 // up to 1.024 ms
	st.Executor.QueueWait.Buckets[20] = 2 // up to 1.048576 s
	st.Executor.QueueWait.Count = 10
	st.Executor.QueueWait.Sum = 2 * time.Second
	c := metrics.NewCollector(fixed(st), "", nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tollgate_executor_queue_wait_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 10 || h.GetSampleSum() != 2 {
			t.Fatalf("count %d sum %g, want 10 and 2", h.GetSampleCount(), h.GetSampleSum())
		}
		want := map[float64]uint64{0: 5, 0.001024: 8, 0.000512: 5, 1.048576: 10}
		for _, b := range h.GetBucket() {
			if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
				t.Fatalf("bucket le=%g has %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
			}
			delete(want, b.GetUpperBound())
		}
		if len(want) != 0 {
			t.Fatalf("buckets missing: %v", want)
		}
		return
	}
	t.Fatal("no tollgate_executor_queue_wait_seconds histogram")
}

func TestCollectorLintsAndRegisters(t *testing.T) {
	c := metrics.NewCollector(fixed(pool.Stats{}), "myapp", prometheus.Labels{"pool": "primary"})
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil || n != 37 {
		t.Fatalf("gathered %d metrics (%v), want 37", n, err)
	}
	// Two pools with different labels register side by side.
	if err := reg.Register(metrics.NewCollector(fixed(pool.Stats{}), "myapp", prometheus.Labels{"pool": "replica"})); err != nil {
		t.Fatal(err)
	}
}

// The collector reads a real pool at scrape time: held slots show as in
// flight, and counters grow.
func TestCollectorReadsRealPoolAtScrapeTime(t *testing.T) {
	p, err := pool.Open(t.Context(), pool.Config{
		Dialector: sqlite.Open(filepath.Join(t.TempDir(), "m.db")), Profile: pool.Development,
		MaxOpenConns: 2, MaxConcurrent: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	c := metrics.NewCollector(p, "", nil)
	gauge := func(name string) float64 {
		t.Helper()
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	before := gauge("tollgate_executor_processed_total")
	hold := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_ = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error { <-hold; return nil })
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for gauge("tollgate_executor_in_flight") != 2 {
		if time.Now().After(deadline) {
			t.Fatal("in flight never reached 2")
		}
		time.Sleep(time.Millisecond) // bounded polling
	}
	if gauge("tollgate_executor_saturated") != 1 {
		t.Fatal("held slots not reported as saturated")
	}
	close(hold)
	wg.Wait()
	if got := gauge("tollgate_executor_processed_total"); got != before+2 {
		t.Fatalf("processed_total = %v, want %v", got, before+2)
	}
}
