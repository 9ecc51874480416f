package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-db/tollgate/pool"
)

// Source is what the collector reads. *pool.Pool satisfies it.
type Source interface {
	Stats() pool.Stats
}

// DefaultNamespace prefixes every metric name when NewCollector is given "".
const DefaultNamespace = "tollgate"

// Collector is a prometheus.Collector of one Source's Stats.
type Collector struct {
	src   Source
	descs []metric
	wait  *prometheus.Desc // the queue-wait histogram
}

// metric is one exported figure: its description, its type and how to
// read it from a Stats.
type metric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(pool.Stats) float64
}

// NewCollector returns a Collector of src whose metric names start with
// namespace (DefaultNamespace when empty). constLabels, which may be nil,
// are added to every metric: use them to tell several pools apart (for
// example prometheus.Labels{"pool": "primary"}). Register it with
// prometheus.MustRegister or a prometheus.Registry.
func NewCollector(src Source, namespace string, constLabels prometheus.Labels) *Collector {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	c := &Collector{src: src}
	add := func(subsystem, name, help string, typ prometheus.ValueType, value func(pool.Stats) float64) {
		c.descs = append(c.descs, metric{
			desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, nil, constLabels),
			typ:  typ, value: value,
		})
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	i := func(v int) float64 { return float64(v) }
	n := func(v int64) float64 { return float64(v) }

	// database/sql
	add("db", "connections_max_open", "Maximum number of open connections (MaxOpenConns).", gauge, func(s pool.Stats) float64 { return i(s.DB.MaxOpenConnections) })
	add("db", "connections_open", "Connections open now, in use or idle.", gauge, func(s pool.Stats) float64 { return i(s.DB.OpenConnections) })
	add("db", "connections_in_use", "Connections in use now.", gauge, func(s pool.Stats) float64 { return i(s.DB.InUse) })
	add("db", "connections_idle", "Idle connections now.", gauge, func(s pool.Stats) float64 { return i(s.DB.Idle) })
	add("db", "utilization_ratio", "Connections in use divided by MaxOpenConns (0 to 1).", gauge, func(s pool.Stats) float64 { return s.Utilization / 100 })
	add("db", "wait_count_total", "Times database/sql made a caller wait for a connection.", counter, func(s pool.Stats) float64 { return n(s.DB.WaitCount) })
	add("db", "wait_duration_seconds_total", "Total time callers waited for a database/sql connection.", counter, func(s pool.Stats) float64 { return s.DB.WaitDuration.Seconds() })
	add("db", "max_idle_closed_total", "Connections closed because of MaxIdleConns (cleanups included).", counter, func(s pool.Stats) float64 { return n(s.DB.MaxIdleClosed) })
	add("db", "max_idle_time_closed_total", "Connections closed because of ConnMaxIdleTime.", counter, func(s pool.Stats) float64 { return n(s.DB.MaxIdleTimeClosed) })
	add("db", "max_lifetime_closed_total", "Connections closed because of ConnMaxLifetime.", counter, func(s pool.Stats) float64 { return n(s.DB.MaxLifetimeClosed) })

	// the executor
	add("executor", "queue_length", "Calls waiting for an executor slot now.", gauge, func(s pool.Stats) float64 { return i(s.Executor.QueueLength) })
	add("executor", "in_flight", "Calls holding an executor slot now.", gauge, func(s pool.Stats) float64 { return i(s.Executor.InFlight) })
	add("executor", "limit", "The executor's adaptive concurrency limit now.", gauge, func(s pool.Stats) float64 { return i(s.Executor.Limit) })
	add("executor", "max_concurrent", "The adaptive limit's ceiling (MaxConcurrent).", gauge, func(s pool.Stats) float64 { return i(s.Executor.MaxConcurrent) })
	add("executor", "max_queue", "The queue's bound (MaxQueue).", gauge, func(s pool.Stats) float64 { return i(s.Executor.MaxQueue) })
	add("executor", "saturated", "1 when a new call would have to wait for a slot, else 0.", gauge, func(s pool.Stats) float64 { return b(s.Saturated()) })
	add("executor", "queue_wait_p50_seconds", "Median wait for a slot over the last one to two minutes (log-scale buckets, within a factor of two).", gauge, func(s pool.Stats) float64 { return s.Executor.QueueWaitP50.Seconds() })
	add("executor", "queue_wait_p99_seconds", "99th percentile wait for a slot over the last one to two minutes.", gauge, func(s pool.Stats) float64 { return s.Executor.QueueWaitP99.Seconds() })
	add("executor", "queue_wait_max_seconds", "Longest wait for a slot since the pool opened.", gauge, func(s pool.Stats) float64 { return s.Executor.QueueWaitMax.Seconds() })
	add("executor", "processed_total", "Attempts that succeeded (or ended with the application's own error).", counter, func(s pool.Stats) float64 { return n(s.Executor.Processed) })
	add("executor", "failed_total", "Attempts that failed (the application's own errors excluded).", counter, func(s pool.Stats) float64 { return n(s.Executor.Failed) })
	add("executor", "retried_total", "Retries made.", counter, func(s pool.Stats) float64 { return n(s.Executor.Retried) })
	add("executor", "rejected_total", "Calls refused because the queue was full.", counter, func(s pool.Stats) float64 { return n(s.Executor.Rejected) })
	add("executor", "timed_out_total", "Calls that gave up waiting in the queue (QueueTimeout).", counter, func(s pool.Stats) float64 { return n(s.Executor.TimedOut) })
	add("executor", "canceled_total", "Calls whose context ended while queued.", counter, func(s pool.Stats) float64 { return n(s.Executor.Canceled) })
	add("executor", "exhaustions_total", "Attempts that failed with a pool-exhaustion error.", counter, func(s pool.Stats) float64 { return n(s.Executor.Exhaustions) })
	add("executor", "limit_decreases_total", "Times the adaptive limit was lowered.", counter, func(s pool.Stats) float64 { return n(s.Executor.LimitDecreases) })
	add("executor", "limit_increases_total", "Times the adaptive limit was raised back.", counter, func(s pool.Stats) float64 { return n(s.Executor.LimitIncreases) })

	// the pool
	add("pool", "cleanups_total", "Cleanup runs, manual and automatic.", counter, func(s pool.Stats) float64 { return n(s.Cleanups) })
	add("pool", "timed_out_total", "Calls that ended in a timeout (OpTimeout, statement_timeout, a connect timeout).", counter, func(s pool.Stats) float64 { return n(s.TimedOut) })
	add("pool", "application_errors_total", "Calls that ended with the application's own error (not a database failure).", counter, func(s pool.Stats) float64 { return n(s.AppErrors) })
	add("pool", "exhausted_postgres_total", "Attempts refused for lack of connection slots by PostgreSQL (53300).", counter, func(s pool.Stats) float64 { return n(s.ExhaustedPostgres) })
	add("pool", "exhausted_pgbouncer_total", "Attempts refused for lack of connection slots by PgBouncer (max_client_conn).", counter, func(s pool.Stats) float64 { return n(s.ExhaustedPgBouncer) })
	add("pool", "exhausted_supavisor_total", "Attempts refused for lack of connection slots by Supavisor.", counter, func(s pool.Stats) float64 { return n(s.ExhaustedSupavisor) })
	add("pool", "closed", "1 once the pool is closed, else 0.", gauge, func(s pool.Stats) float64 { return b(s.Executor.Closed) })
	add("pool", "last_error_timestamp_seconds", "Unix time of the last classified failure; 0 when none.", gauge, func(s pool.Stats) float64 {
		if s.LastError.At.IsZero() {
			return 0
		}
		return float64(s.LastError.At.UnixNano()) / 1e9
	})
	c.wait = prometheus.NewDesc(prometheus.BuildFQName(namespace, "executor", "queue_wait_seconds"),
		"Time calls waited for an executor slot, since the pool opened (0 for calls that did not wait).", nil, constLabels)
	return c
}

func b(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.descs {
		ch <- m.desc
	}
	ch <- c.wait
}

// Collect reads Stats once and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	for _, m := range c.descs {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(s))
	}
	ch <- waitHistogram(c.wait, s.Executor.QueueWait)
}

// waitHistogram turns the executor's buckets into a Prometheus histogram,
// whose buckets are cumulative.
func waitHistogram(desc *prometheus.Desc, h pool.WaitHistogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Buckets))
	var cum uint64
	for i, n := range h.Buckets[:len(h.Buckets)-1] { // the last bucket is +Inf
		cum += uint64(n)
		buckets[pool.WaitBucketBound(i).Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(desc, uint64(h.Count), h.Sum.Seconds(), buckets)
}
