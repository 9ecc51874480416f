package otelpool

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"

	"github.com/tollgate-db/tollgate/pool"
)

// OperationDurationBuckets are the explicit bucket boundaries the database
// semantic conventions give db.client.operation.duration, in seconds.
var OperationDurationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// ConnectionTimeBuckets are the boundaries of the create, wait and use
// time histograms, in seconds. The conventions give none; these are the
// operation buckets with sub-millisecond ones added, since a wait for a
// free slot is often far below a millisecond.
var ConnectionTimeBuckets = []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// ReturnedRowsBuckets are the boundaries the conventions give
// db.client.response.returned_rows.
var ReturnedRowsBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}

// The names of tollgate's own metrics, which the conventions do not cover.
const (
	MetricLimit        = "tollgate.executor.limit"         // gauge {slot}: the adaptive limit now
	MetricLimitMax     = "tollgate.executor.limit.max"     // gauge {slot}: the limit's ceiling (SetCeiling, the fleet's share)
	MetricInFlight     = "tollgate.executor.in_flight"     // updowncounter {call}: calls holding a slot
	MetricLimitChanges = "tollgate.executor.limit.changes" // counter {change}, tollgate.limit.direction
	MetricExhaustions  = "tollgate.executor.exhaustions"   // counter {error}, tollgate.exhaustion.source
	MetricRetries      = "tollgate.executor.retries"       // counter {retry}
	MetricRejections   = "tollgate.executor.rejections"    // counter {call}: refused with ErrQueueFull
)

// Attribute keys of tollgate's own metrics and spans.
const (
	AttrLimitDirection   = attribute.Key("tollgate.limit.direction")   // "decrease" | "increase"
	AttrExhaustionSource = attribute.Key("tollgate.exhaustion.source") // "postgres" | "pgbouncer" | "supavisor"
	AttrQueueWait        = attribute.Key("tollgate.queue.wait_time")   // seconds a call waited for slots, all attempts
	AttrAttempts         = attribute.Key("tollgate.call.attempts")     // attempts made
	AttrAttempt          = attribute.Key("tollgate.call.attempt")      // on admitted and retry events
	AttrTransaction      = attribute.Key("tollgate.call.transaction")  // true on a Transaction's span
	AttrErrorClass       = attribute.Key("tollgate.error.class")       // pool.Class of a retried error
	AttrBackoff          = attribute.Key("tollgate.retry.backoff")     // seconds before the retry
)

// instruments are every metric of a Telemetry.
type instruments struct {
	meter metric.Meter

	// synchronous, from the tracer's events
	duration dbconv.ClientOperationDuration
	wait     dbconv.ClientConnectionWaitTime
	use      dbconv.ClientConnectionUseTime
	create   dbconv.ClientConnectionCreateTime
	rows     dbconv.ClientResponseReturnedRows

	// observed from Stats
	count       dbconv.ClientConnectionCountObservable
	idleMax     dbconv.ClientConnectionIdleMaxObservable
	idleMin     dbconv.ClientConnectionIdleMinObservable
	max         dbconv.ClientConnectionMaxObservable
	pending     dbconv.ClientConnectionPendingRequestsObservable
	timeouts    dbconv.ClientConnectionTimeoutsObservable
	limit       metric.Int64ObservableGauge
	limitMax    metric.Int64ObservableGauge
	inFlight    metric.Int64ObservableUpDownCounter
	changes     metric.Int64ObservableCounter
	exhaustions metric.Int64ObservableCounter
	retries     metric.Int64ObservableCounter
	rejections  metric.Int64ObservableCounter
}

func (in *instruments) init(m metric.Meter) error {
	in.meter = m
	var errs [18]error
	in.duration, errs[0] = dbconv.NewClientOperationDuration(m, metric.WithExplicitBucketBoundaries(OperationDurationBuckets...))
	in.wait, errs[1] = dbconv.NewClientConnectionWaitTime(m, metric.WithExplicitBucketBoundaries(ConnectionTimeBuckets...))
	in.use, errs[2] = dbconv.NewClientConnectionUseTime(m, metric.WithExplicitBucketBoundaries(ConnectionTimeBuckets...))
	in.create, errs[3] = dbconv.NewClientConnectionCreateTime(m, metric.WithExplicitBucketBoundaries(ConnectionTimeBuckets...))
	in.count, errs[4] = dbconv.NewClientConnectionCountObservable(m)
	in.idleMax, errs[5] = dbconv.NewClientConnectionIdleMaxObservable(m)
	in.idleMin, errs[6] = dbconv.NewClientConnectionIdleMinObservable(m)
	in.max, errs[7] = dbconv.NewClientConnectionMaxObservable(m)
	in.pending, errs[8] = dbconv.NewClientConnectionPendingRequestsObservable(m)
	in.timeouts, errs[9] = dbconv.NewClientConnectionTimeoutsObservable(m)
	in.limit, errs[10] = m.Int64ObservableGauge(MetricLimit, metric.WithUnit("{slot}"),
		metric.WithDescription("The executor's adaptive concurrency limit: the calls it lets run at once now."))
	in.limitMax, errs[11] = m.Int64ObservableGauge(MetricLimitMax, metric.WithUnit("{slot}"),
		metric.WithDescription("The adaptive limit's ceiling: MaxConcurrent, or less when lowered at run time (pool.SetCeiling, the fleet's share)."))
	in.inFlight, errs[12] = m.Int64ObservableUpDownCounter(MetricInFlight, metric.WithUnit("{call}"),
		metric.WithDescription("Calls holding an executor slot now."))
	in.changes, errs[13] = m.Int64ObservableCounter(MetricLimitChanges, metric.WithUnit("{change}"),
		metric.WithDescription("Times the adaptive limit was lowered (pool exhaustion) or raised back."))
	in.exhaustions, errs[14] = m.Int64ObservableCounter(MetricExhaustions, metric.WithUnit("{error}"),
		metric.WithDescription("Attempts refused for lack of connection slots, by who refused them: PostgreSQL (53300), PgBouncer (max_client_conn), Supavisor."))
	in.retries, errs[15] = m.Int64ObservableCounter(MetricRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries the executor made."))
	in.rejections, errs[16] = m.Int64ObservableCounter(MetricRejections, metric.WithUnit("{call}"),
		metric.WithDescription("Calls refused at once because the queue was full (ErrQueueFull)."))
	in.rows, errs[17] = dbconv.NewClientResponseReturnedRows(m, metric.WithExplicitBucketBoundaries(ReturnedRowsBuckets...))
	return errors.Join(errs[:]...)
}

// Precomputed attribute sets of the observed metrics.
var (
	setDecrease  = attribute.NewSet(AttrLimitDirection.String("decrease"))
	setIncrease  = attribute.NewSet(AttrLimitDirection.String("increase"))
	setPostgres  = attribute.NewSet(AttrExhaustionSource.String("postgres"))
	setPgBouncer = attribute.NewSet(AttrExhaustionSource.String("pgbouncer"))
	setSupavisor = attribute.NewSet(AttrExhaustionSource.String("supavisor"))
)

// register reports src's Stats through one callback, which reads them once
// per collection.
func (in *instruments) register(src Source, poolSet attribute.Set) (metric.Registration, error) {
	poolKV := poolSet.ToSlice()
	withPool := metric.WithAttributeSet(poolSet)
	withState := func(s dbconv.ClientConnectionStateAttr) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append(poolKV, in.count.AttrClientConnectionState(s))...))
	}
	used, idle := withState(dbconv.ClientConnectionStateUsed), withState(dbconv.ClientConnectionStateIdle)
	merged := func(s attribute.Set) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append(poolKV, s.ToSlice()...)...))
	}
	dec, inc := merged(setDecrease), merged(setIncrease)
	byPostgres, byPgBouncer, bySupavisor := merged(setPostgres), merged(setPgBouncer), merged(setSupavisor)
	maxIdle := src.Config().MaxIdleConns

	return in.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := src.Stats()
		o.ObserveInt64(in.count.Inst(), int64(s.DB.InUse), used)
		o.ObserveInt64(in.count.Inst(), int64(s.DB.Idle), idle)
		o.ObserveInt64(in.idleMax.Inst(), int64(idleCap(s, maxIdle)), withPool)
		o.ObserveInt64(in.idleMin.Inst(), 0, withPool) // database/sql keeps no minimum
		o.ObserveInt64(in.max.Inst(), int64(s.DB.MaxOpenConnections), withPool)
		o.ObserveInt64(in.pending.Inst(), int64(s.Executor.QueueLength), withPool)
		o.ObserveInt64(in.timeouts.Inst(), s.Executor.TimedOut, withPool)
		o.ObserveInt64(in.limit, int64(s.Executor.Limit), withPool)
		o.ObserveInt64(in.limitMax, int64(s.Executor.Ceiling), withPool)
		o.ObserveInt64(in.inFlight, int64(s.Executor.InFlight), withPool)
		o.ObserveInt64(in.changes, s.Executor.LimitDecreases, dec)
		o.ObserveInt64(in.changes, s.Executor.LimitIncreases, inc)
		o.ObserveInt64(in.exhaustions, s.ExhaustedPostgres, byPostgres)
		o.ObserveInt64(in.exhaustions, s.ExhaustedPgBouncer, byPgBouncer)
		o.ObserveInt64(in.exhaustions, s.ExhaustedSupavisor, bySupavisor)
		o.ObserveInt64(in.retries, s.Executor.Retried, withPool)
		o.ObserveInt64(in.rejections, s.Executor.Rejected, withPool)
		return nil
	}, in.count.Inst(), in.idleMax.Inst(), in.idleMin.Inst(), in.max.Inst(), in.pending.Inst(), in.timeouts.Inst(),
		in.limit, in.limitMax, in.inFlight, in.changes, in.exhaustions, in.retries, in.rejections)
}

// idleCap is the idle cap the pool keeps: MaxIdleConns, lowered with the
// adaptive limit (the pool closes idle connections the limit cannot use),
// never above the open-connection bound.
func idleCap(s pool.Stats, maxIdle int) int {
	n := min(maxIdle, s.Executor.Limit)
	if s.DB.MaxOpenConnections > 0 {
		n = min(n, s.DB.MaxOpenConnections)
	}
	return n
}
