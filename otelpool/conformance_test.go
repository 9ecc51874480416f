package otelpool_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/otelpool"
	"github.com/tollgate-db/tollgate/pool"
)

// pgFixture is a pool on a fresh database of the real PostgreSQL server,
// instrumented with the real SDK.
type pgFixture struct {
	sdk *sdk
	tel *otelpool.Telemetry
	p   *pool.Pool
	db  string // the database's name
}

func newPG(t *testing.T, cfg pool.Config) *pgFixture {
	t.Helper()
	name := testdb.CreateDatabase(t, "otelpool")
	f := &pgFixture{sdk: newSDK(t), db: name}
	f.tel = f.sdk.telemetry(t, otelpool.Config{})
	cfg.DatabaseURL = testdb.WithDatabase(t, testdb.Postgres(t), name)
	cfg.Tracer = f.tel
	p, err := pool.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	f.p = p
	if err := f.tel.Observe(p); err != nil {
		t.Fatal(err)
	}
	if err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE)").Error
	}); err != nil {
		t.Fatal(err)
	}
	f.sdk.spans.Reset()
	return f
}

// spansNamed returns the ended spans called name.
func (f *pgFixture) spansNamed(name string) []sdktrace.ReadOnlySpan { return spansNamedIn(f.sdk, name) }

// TestConformanceMetrics checks every metric's name, unit, instrument kind
// and required attributes against the semconv package's generated
// instruments, after real calls on a real server.
func TestConformanceMetrics(t *testing.T) {
	f := newPG(t, pool.Config{MaxOpenConns: 4, MaxConcurrent: 4})
	ctx := context.Background()
	// A few calls, one of them failing, so that every histogram has data.
	for i := range 3 {
		if err := f.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			return db.Exec("INSERT INTO widgets (name) VALUES (?)", "w"+strconv.Itoa(i)).Error
		}, pool.Operation("INSERT", "widgets")); err != nil {
			t.Fatal(err)
		}
	}
	f.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("SELECT 1/0").Error })
	var names []string
	if err := f.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Raw("SELECT name FROM widgets").Scan(&names).Error
	}, pool.Operation("SELECT", "widgets")); err != nil || len(names) != 3 {
		t.Fatalf("select: %v, %d rows", err, len(names))
	}
	// A connection opened now, with the SDK in place, times create_time.
	f.p.Cleanup(ctx)
	if err := f.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error { return db.Exec("SELECT 1").Error }); err != nil {
		t.Fatal(err)
	}

	poolName := "127.0.0.1:5432/" + f.db
	if got := f.tel.PoolName(); got != poolName {
		t.Errorf("PoolName = %q, want %q (server.address:server.port/db.namespace)", got, poolName)
	}
	poolAttr := semconv.DBClientConnectionPoolName(poolName)

	type want struct {
		name, unit string
		kind       kind
		attrs      []attribute.KeyValue // present on some data point
		desc       string               // checked when set
	}
	// conv is a semconv-generated instrument: its name, unit and
	// description are the conventions', never typed here.
	type conv interface {
		Name() string
		Unit() string
		Description() string
	}
	sc := func(c conv, k kind, attrs ...attribute.KeyValue) want {
		return want{c.Name(), c.Unit(), k, attrs, c.Description()}
	}
	durationAttrs := []attribute.KeyValue{semconv.DBSystemNamePostgreSQL, semconv.DBNamespace(f.db),
		semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(5432),
		semconv.DBOperationName("INSERT"), semconv.DBCollectionName("widgets")}
	wants := []want{
		sc(dbconv.ClientOperationDuration{}, histogram, durationAttrs...),
		sc(dbconv.ClientConnectionCountObservable{}, upDownCounter, poolAttr, semconv.DBClientConnectionStateUsed),
		sc(dbconv.ClientConnectionIdleMaxObservable{}, upDownCounter, poolAttr),
		sc(dbconv.ClientConnectionIdleMinObservable{}, upDownCounter, poolAttr),
		sc(dbconv.ClientConnectionMaxObservable{}, upDownCounter, poolAttr),
		sc(dbconv.ClientConnectionPendingRequestsObservable{}, upDownCounter, poolAttr),
		sc(dbconv.ClientConnectionTimeoutsObservable{}, counter, poolAttr),
		sc(dbconv.ClientConnectionCreateTime{}, histogram, poolAttr),
		sc(dbconv.ClientConnectionWaitTime{}, histogram, poolAttr),
		sc(dbconv.ClientConnectionUseTime{}, histogram, poolAttr),
		sc(dbconv.ClientResponseReturnedRows{}, histogram, semconv.DBSystemNamePostgreSQL, semconv.DBNamespace(f.db),
			semconv.DBOperationName("SELECT"), semconv.DBCollectionName("widgets")),
		{otelpool.MetricLimit, "{slot}", gauge, []attribute.KeyValue{poolAttr}, ""},
		{otelpool.MetricLimitMax, "{slot}", gauge, []attribute.KeyValue{poolAttr}, ""},
		{otelpool.MetricInFlight, "{call}", upDownCounter, []attribute.KeyValue{poolAttr}, ""},
		{otelpool.MetricLimitChanges, "{change}", counter, []attribute.KeyValue{poolAttr, otelpool.AttrLimitDirection.String("decrease")}, ""},
		{otelpool.MetricExhaustions, "{error}", counter, []attribute.KeyValue{poolAttr, otelpool.AttrExhaustionSource.String("pgbouncer")}, ""},
		{otelpool.MetricRetries, "{retry}", counter, []attribute.KeyValue{poolAttr}, ""},
		{otelpool.MetricRejections, "{call}", counter, []attribute.KeyValue{poolAttr}, ""},
	}
	got := f.sdk.collect(t)
	for _, w := range wants {
		m, ok := got[w.name]
		if !ok {
			t.Errorf("%s: missing", w.name)
			continue
		}
		if w.desc != "" && m.Description != w.desc {
			t.Errorf("%s: description %q, want %q", w.name, m.Description, w.desc)
		}
		if m.Unit != w.unit {
			t.Errorf("%s: unit %q, want %q", w.name, m.Unit, w.unit)
		}
		if k := kindOf(m); k != w.kind {
			t.Errorf("%s: %s, want %s", w.name, k, w.kind)
		}
		found := false
		for _, s := range attrSets(m) {
			if s.HasValue(semconv.DBClientConnectionPoolNameKey) != slices.Contains(w.attrs, poolAttr) {
				t.Errorf("%s: data point %v: db.client.connection.pool.name present = %v", w.name, s.ToSlice(), !slices.Contains(w.attrs, poolAttr))
			}
			all := true
			for _, kv := range w.attrs {
				if v, ok := s.Value(kv.Key); !ok || v != kv.Value {
					all = false
				}
			}
			found = found || all
		}
		if !found {
			t.Errorf("%s: no data point with %v; got %v", w.name, w.attrs, attrSets(m))
		}
	}
	if len(got) != len(wants) {
		t.Errorf("%d metrics, want %d", len(got), len(wants))
	}

	// The states and the figures the conventions define.
	count := got[dbconv.ClientConnectionCountObservable{}.Name()]
	for _, st := range []attribute.KeyValue{semconv.DBClientConnectionStateIdle, semconv.DBClientConnectionStateUsed} {
		if _, ok := intValue(count, poolAttr, st); !ok {
			t.Errorf("db.client.connection.count: no %v", st)
		}
	}
	if v, _ := intValue(got[dbconv.ClientConnectionMaxObservable{}.Name()], poolAttr); v != 4 {
		t.Errorf("db.client.connection.max = %d, want 4 (MaxOpenConns)", v)
	}
	d := got[dbconv.ClientOperationDuration{}.Name()].Data.(metricdata.Histogram[float64])
	if !slices.Equal(d.DataPoints[0].Bounds, otelpool.OperationDurationBuckets) ||
		!slices.Equal(otelpool.OperationDurationBuckets, []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}) {
		t.Errorf("db.client.operation.duration buckets %v, want the conventions' 0.001 … 10", d.DataPoints[0].Bounds)
	}
	p, ok := histPoint(got[dbconv.ClientOperationDuration{}.Name()], durationAttrs...)
	if !ok || p.Count != 3 {
		t.Errorf("db.client.operation.duration{INSERT widgets}: %d calls, want 3", p.Count)
	}
	for _, s := range attrSets(got[dbconv.ClientOperationDuration{}.Name()]) {
		if s.HasValue(semconv.DBQueryTextKey) {
			t.Errorf("db.query.text recorded without opt-in: %v", s.ToSlice())
		}
	}
	// The SELECT of the three widgets, and the SELECT 1 of one row.
	var rowSums []int64
	rows, _ := got[dbconv.ClientResponseReturnedRows{}.Name()].Data.(metricdata.Histogram[int64])
	for _, p := range rows.DataPoints {
		if v, _ := p.Attributes.Value(semconv.DBCollectionNameKey); v.AsString() == "widgets" {
			rowSums = append(rowSums, p.Sum)
		}
		if !slices.Equal(p.Bounds, otelpool.ReturnedRowsBuckets) || !slices.Equal(otelpool.ReturnedRowsBuckets,
			[]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}) {
			t.Errorf("db.client.response.returned_rows buckets %v, want the conventions' 1 … 10000", p.Bounds)
		}
	}
	if !slices.Equal(rowSums, []int64{3}) || len(rows.DataPoints) != 2 {
		t.Errorf("db.client.response.returned_rows: widgets %v in %d points, want [3] in 2", rowSums, len(rows.DataPoints))
	}
	if p, _ := histPoint(got[dbconv.ClientConnectionCreateTime{}.Name()], poolAttr); p.Count == 0 || p.Sum <= 0 {
		t.Errorf("db.client.connection.create_time: %d connects, sum %g s", p.Count, p.Sum)
	}
	if p, _ := histPoint(got[dbconv.ClientConnectionUseTime{}.Name()], poolAttr); p.Count < 5 {
		t.Errorf("db.client.connection.use_time: %d attempts, want >= 5", p.Count)
	}
}

// TestConformanceSaturation runs 200 callers through 5 slots: the queue
// (pending_requests) fills and drains, and wait_time records the waits.
func TestConformanceSaturation(t *testing.T) {
	f := newPG(t, pool.Config{MaxOpenConns: 5, MaxConcurrent: 5, QueueTimeout: 30 * time.Second})
	const callers, sleep = 200, 20 * time.Millisecond
	pendingName := dbconv.ClientConnectionPendingRequestsObservable{}.Name()
	waitName := dbconv.ClientConnectionWaitTime{}.Name()
	poolAttr := semconv.DBClientConnectionPoolName(f.tel.PoolName())
	before, _ := histPoint(f.sdk.collect(t)[waitName], poolAttr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range callers {
		wg.Go(func() {
			err := f.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
				return db.Exec("SELECT pg_sleep(?)", sleep.Seconds()).Error
			}, pool.Operation("SELECT", "pg_sleep"))
			if err != nil {
				failed.Add(1)
				t.Error(err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var peak int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
poll:
	for {
		select {
		case <-done:
			break poll
		case <-ctx.Done():
			t.Fatal("callers did not finish in 60 s")
		case <-tick.C:
			if v, ok := intValue(f.sdk.collect(t)[pendingName], poolAttr); ok {
				peak = max(peak, v)
			}
		}
	}
	got := f.sdk.collect(t)
	after, _ := histPoint(got[waitName], poolAttr)
	if peak < callers/2 {
		t.Errorf("%s peaked at %d with %d callers on 5 slots, want >= %d", pendingName, peak, callers, callers/2)
	}
	if v, ok := intValue(got[pendingName], poolAttr); !ok || v != 0 {
		t.Errorf("%s = %d after the load, want 0", pendingName, v)
	}
	if n := after.Count - before.Count; n != callers {
		t.Errorf("%s: %d waits recorded, want %d", waitName, n, callers)
	}
	// 200 calls of 20 ms through 5 slots: the k-th admitted waits about
	// k/5 × 20 ms, 78 s in all; allow for callers that started late.
	if s := after.Sum - before.Sum; s < 5 {
		t.Errorf("%s: %.2f s of waiting in all, want > 5 s", waitName, s)
	}
	var long uint64 // waits over 100 ms
	for i, b := range after.Bounds {
		if b >= 0.1 {
			long += after.BucketCounts[i+1]
		}
	}
	if long == 0 {
		t.Errorf("%s: no wait over 100 ms: %v", waitName, after.BucketCounts)
	}
	// The spans show the queue too.
	queued := 0
	for _, s := range f.spansNamed("SELECT pg_sleep") {
		for _, e := range s.Events() {
			if e.Name == "queued" {
				queued++
			}
		}
		if _, ok := spanAttr(s.Attributes(), otelpool.AttrQueueWait); !ok {
			t.Fatalf("span %s has no %s", s.Name(), otelpool.AttrQueueWait)
		}
	}
	if queued < callers/2 {
		t.Errorf("%d spans with a queued event, want >= %d", queued, callers/2)
	}
}

// TestConformanceFailedStatement: the SQLSTATE of a failed statement is on
// the call's span, its statement's span and the duration metric.
func TestConformanceFailedStatement(t *testing.T) {
	f := newPG(t, pool.Config{MaxOpenConns: 2})
	err := f.p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("SELECT 1/0").Error
	}, pool.Operation("SELECT", "widgets"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22012" {
		t.Fatalf("err = %v, want division_by_zero 22012", err)
	}
	calls := f.spansNamed("SELECT widgets")
	if len(calls) != 1 {
		t.Fatalf("%d spans named %q, want 1; all: %v", len(calls), "SELECT widgets", names(f.sdk.spans.Ended()))
	}
	call := calls[0]
	checkFailed(t, call, "22012")
	if call.SpanKind() != trace.SpanKindClient {
		t.Errorf("call span kind %v, want client", call.SpanKind())
	}
	// A statement that failed has no command tag: its span is named
	// after its target alone, as the conventions say.
	stmts := f.spansNamed(f.db)
	if len(stmts) != 1 {
		t.Fatalf("%d statement spans named %q; all: %v", len(stmts), f.db, names(f.sdk.spans.Ended()))
	}
	checkFailed(t, stmts[0], "22012")
	if stmts[0].Parent().SpanID() != call.SpanContext().SpanID() {
		t.Errorf("statement span's parent %v, want the call's span %v", stmts[0].Parent().SpanID(), call.SpanContext().SpanID())
	}
	if _, ok := spanAttr(stmts[0].Attributes(), semconv.DBQueryTextKey); ok {
		t.Error("db.query.text recorded without opt-in")
	}
	p, ok := histPoint(f.sdk.collect(t)[dbconv.ClientOperationDuration{}.Name()],
		semconv.DBResponseStatusCode("22012"), semconv.ErrorTypeKey.String("22012"), semconv.DBOperationName("SELECT"))
	if !ok || p.Count != 1 {
		t.Errorf("no db.client.operation.duration point with db.response.status_code and error.type 22012")
	}
}

func checkFailed(t *testing.T, s sdktrace.ReadOnlySpan, code string) {
	t.Helper()
	if s.Status().Code != codes.Error {
		t.Errorf("%s: status %v, want Error", s.Name(), s.Status())
	}
	for _, key := range []attribute.Key{semconv.DBResponseStatusCodeKey, semconv.ErrorTypeKey} {
		if v, ok := spanAttr(s.Attributes(), key); !ok || v.AsString() != code {
			t.Errorf("%s: %s = %q, want %q", s.Name(), key, v.AsString(), code)
		}
	}
	if v, ok := spanAttr(s.Attributes(), semconv.DBSystemNameKey); !ok || v.AsString() != "postgresql" {
		t.Errorf("%s: db.system.name = %q", s.Name(), v.AsString())
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// TestConformanceRetry: an idempotent call whose connection the server
// kills (57P01) is retried; the span shows the retry as an event with the
// SQLSTATE, and the call's attempts.
func TestConformanceRetry(t *testing.T) {
	f := newPG(t, pool.Config{MaxOpenConns: 2})
	var attempts atomic.Int64
	err := f.p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		if attempts.Add(1) == 1 {
			return db.Exec("SELECT pg_terminate_backend(pg_backend_pid())").Error
		}
		return db.Exec("SELECT 1").Error
	}, pool.Idempotent(), pool.Operation("SELECT", "widgets"))
	if err != nil {
		t.Fatalf("retried call failed: %v (attempts %d)", err, attempts.Load())
	}
	if attempts.Load() != 2 {
		t.Fatalf("%d attempts, want 2", attempts.Load())
	}
	calls := f.spansNamed("SELECT widgets")
	if len(calls) != 1 {
		t.Fatalf("%d call spans; all: %v", len(calls), names(f.sdk.spans.Ended()))
	}
	s := calls[0]
	var retries []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == "retry" {
			retries = append(retries, e)
		}
	}
	if len(retries) != 1 {
		t.Fatalf("%d retry events, want 1: %v", len(retries), s.Events())
	}
	if v, ok := spanAttr(retries[0].Attributes, semconv.DBResponseStatusCodeKey); !ok || v.AsString() != "57P01" {
		t.Errorf("retry event db.response.status_code = %q, want 57P01 (admin_shutdown)", v.AsString())
	}
	if v, _ := spanAttr(retries[0].Attributes, otelpool.AttrErrorClass); v.AsString() != pool.ConnectionLost.String() {
		t.Errorf("retry event class %q, want %q", v.AsString(), pool.ConnectionLost)
	}
	if v, _ := spanAttr(s.Attributes(), otelpool.AttrAttempts); v.AsInt64() != 2 {
		t.Errorf("%s = %d, want 2", otelpool.AttrAttempts, v.AsInt64())
	}
	if s.Status().Code == codes.Error {
		t.Errorf("a call that succeeded on retry has status %v", s.Status())
	}
	if v, _ := intValue(f.sdk.collect(t)[otelpool.MetricRetries]); v != 1 {
		t.Errorf("%s = %d, want 1", otelpool.MetricRetries, v)
	}
}

// TestConformanceTransaction: a Transaction is one span, its statements
// (BEGIN, INSERT, COMMIT) children of it.
func TestConformanceTransaction(t *testing.T) {
	f := newPG(t, pool.Config{MaxOpenConns: 2})
	err := f.p.Transaction(context.Background(), func(ctx context.Context) error {
		return f.p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			return db.Exec("INSERT INTO widgets (name) VALUES ('tx')").Error
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var tx sdktrace.ReadOnlySpan
	for _, s := range f.sdk.spans.Ended() {
		if v, ok := spanAttr(s.Attributes(), otelpool.AttrTransaction); ok && v.AsBool() {
			tx = s
		}
	}
	if tx == nil {
		t.Fatalf("no transaction span; all: %v", names(f.sdk.spans.Ended()))
	}
	var children []string
	for _, s := range f.sdk.spans.Ended() {
		if s.Parent().SpanID() == tx.SpanContext().SpanID() {
			children = append(children, s.Name())
		}
	}
	want := []string{"BEGIN " + f.db, "INSERT " + f.db, "COMMIT " + f.db}
	if !slices.Equal(children, want) {
		t.Errorf("transaction's child spans %v, want %v", children, want)
	}
}

// TestConformanceQueryTextOptIn: Config.QueryText records the SQL with its
// placeholders, never the argument.
func TestConformanceQueryTextOptIn(t *testing.T) {
	name := testdb.CreateDatabase(t, "otelpool")
	s := newSDK(t)
	tel := s.telemetry(t, otelpool.Config{QueryText: true})
	p, err := pool.Open(context.Background(), pool.Config{
		DatabaseURL: testdb.WithDatabase(t, testdb.Postgres(t), name), MaxOpenConns: 1, Tracer: tel})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if err := tel.Observe(p); err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-value"
	if err := p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		var n int
		return db.Raw("SELECT length(?::text)", secret).Scan(&n).Error
	}); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, sp := range s.spans.Ended() {
		for _, kv := range sp.Attributes() {
			if kv.Key == semconv.DBQueryTextKey {
				texts = append(texts, kv.Value.AsString())
			}
		}
	}
	if !slices.Equal(texts, []string{"SELECT length($1::text)"}) {
		t.Errorf("db.query.text %q, want the statement with its placeholder", texts)
	}
}

// TestConformanceExhaustedPgBouncer: a session-mode PgBouncer out of
// client slots refuses the call; its retries say who refused, and
// tollgate.executor.exhaustions counts them under source pgbouncer.
func TestConformanceExhaustedPgBouncer(t *testing.T) {
	u := testdb.PgBouncerSession(t)
	s := newSDK(t)
	tel := s.telemetry(t, otelpool.Config{})
	p, err := pool.Open(context.Background(), pool.Config{DatabaseURL: u, MaxOpenConns: 2, Tracer: tel,
		Retry: pool.RetryConfig{Attempts: 2, ExhaustedAttempts: 2, Backoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if err := tel.Observe(p); err != nil {
		t.Fatal(err)
	}
	p.Cleanup(context.Background()) // the pool's idle connection would hold a client slot
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			c.Close(context.Background())
		}
	}()
	for range 40 {
		c, err := pgx.Connect(context.Background(), u)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	s.spans.Reset()
	err = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("SELECT 1").Error
	}, pool.Operation("SELECT", "widgets"))
	if pool.Classify(err) != pool.Exhausted {
		t.Fatalf("after %d connections took PgBouncer's slots: %v, want exhausted", len(conns), err)
	}
	calls := spansNamedIn(s, "SELECT widgets")
	if len(calls) != 1 {
		t.Fatalf("call spans %v", names(s.spans.Ended()))
	}
	var sources []string
	for _, e := range calls[0].Events() {
		if e.Name == "retry" {
			v, _ := spanAttr(e.Attributes, otelpool.AttrExhaustionSource)
			sources = append(sources, v.AsString())
		}
	}
	if !slices.Equal(sources, []string{"pgbouncer"}) {
		t.Errorf("retry events' %s %v, want [pgbouncer]", otelpool.AttrExhaustionSource, sources)
	}
	checkFailed(t, calls[0], "08P01")
	got := s.collect(t)
	if v, _ := intValue(got[otelpool.MetricExhaustions], otelpool.AttrExhaustionSource.String("pgbouncer")); v < 2 {
		t.Errorf("%s{pgbouncer} = %d after two refused attempts, want >= 2", otelpool.MetricExhaustions, v)
	}
	if v, _ := intValue(got[otelpool.MetricExhaustions], otelpool.AttrExhaustionSource.String("postgres")); v != 0 {
		t.Errorf("%s{postgres} = %d, want 0", otelpool.MetricExhaustions, v)
	}
}

func spansNamedIn(s *sdk, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}
