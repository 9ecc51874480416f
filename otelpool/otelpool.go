package otelpool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tollgate-db/tollgate/pool"
)

// ScopeName is the instrumentation scope of every span and metric.
const ScopeName = "github.com/tollgate-db/tollgate/otelpool"

// Config configures a [Telemetry]. The zero value works: the global
// providers, attributes taken from the pool given to Observe.
type Config struct {
	// TracerProvider makes the spans. Default: the global provider
	// (otel.GetTracerProvider); while none is set, spans cost nothing.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the metrics. Default: the global provider
	// (otel.GetMeterProvider); while none is set, metrics cost nothing.
	MeterProvider metric.MeterProvider
	// PoolName is db.client.connection.pool.name. Default:
	// server.address:server.port/db.namespace, as the semantic conventions
	// say, or db.system.name when the pool has no server (SQLite).
	PoolName string
	// SystemName is db.system.name. Default: "postgresql", or the name of
	// the pool's GORM dialector ("sqlite", "mysql", else "other_sql").
	SystemName string
	// Namespace, ServerAddress and ServerPort are db.namespace,
	// server.address and server.port. Default: read from the pool's URL
	// by Observe.
	Namespace     string
	ServerAddress string
	ServerPort    int
	// QueryText records db.query.text on statement spans: the SQL as sent,
	// with its $n placeholders, never the arguments. It is off by default
	// because a statement that inlines a value would put it in the trace.
	// Default: false.
	QueryText bool
	// DisableStatementSpans turns off the child span per statement made
	// from pgx's tracer (see [Telemetry.TraceQueryStart]). Default: false.
	DisableStatementSpans bool
}

// Telemetry reports one pool's calls as OpenTelemetry spans and metrics
// with the database semantic conventions. Give it to the pool as
// pool.Config.Tracer, then call Observe with the opened pool (or let
// [Open] do both). It is safe for concurrent use.
//
// Telemetry implements pool.Tracer with its AdmitTracer and RetryTracer
// extensions, for the span and the histograms of each call, and pgx's
// QueryTracer and ConnectTracer, for statement spans and
// db.client.connection.create_time.
type Telemetry struct {
	cfg Config

	tracer  trace.Tracer
	fixedTP bool // cfg.TracerProvider was given: tracing is on unless it is a no-op
	tpOn    bool // with fixedTP: whether it is
	fixedMP bool // cfg.MeterProvider was given
	mpOn    bool // with fixedMP: whether it is not a no-op

	inst instruments
	// caches of what calls of one kind share (sets.go)
	shapes, durations boundedMap
	attrs             atomic.Pointer[callAttrs] // nil until Observe
	regMu             sync.Mutex
	reg               metric.Registration
	fleet             metric.Registration
	closed            bool
	observe           bool
}

// callAttrs are the attributes every call shares, fixed once Observe has
// read the pool.
type callAttrs struct {
	system   string
	target   string // the span name's target when the call names no collection
	base     []attribute.KeyValue
	poolSet  attribute.Set       // {db.client.connection.pool.name}
	poolOpt  metric.RecordOption // the same, as a histogram's option
	poolName string
}

// New returns a Telemetry. It fails only when a provider refuses to make
// an instrument.
func New(cfg Config) (*Telemetry, error) {
	t := &Telemetry{cfg: cfg}
	tp := cfg.TracerProvider
	if tp != nil {
		t.fixedTP = true
		_, isNoop := tp.(tracenoop.TracerProvider)
		t.tpOn = !isNoop
	} else {
		tp = otel.GetTracerProvider()
	}
	t.tracer = tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	mp := cfg.MeterProvider
	if mp != nil {
		t.fixedMP = true
		_, isNoop := mp.(metricnoop.MeterProvider)
		t.mpOn = !isNoop
	} else {
		mp = otel.GetMeterProvider()
	}
	if err := t.inst.init(mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))); err != nil {
		return nil, fmt.Errorf("otelpool: %w", err)
	}
	return t, nil
}

// Open opens a pool with a new Telemetry as its Tracer and observes it:
// New, pool.Open with pcfg.Tracer set, Observe. ctx bounds pool.Open.
func Open(ctx context.Context, pcfg pool.Config, cfg Config) (*pool.Pool, *Telemetry, error) {
	t, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	pcfg.Tracer = t
	p, err := pool.Open(ctx, pcfg)
	if err != nil {
		return nil, nil, err
	}
	if err := t.Observe(p); err != nil {
		p.Close(ctx)
		return nil, nil, err
	}
	return p, t, nil
}

// Source is what Observe reads. *pool.Pool satisfies it.
type Source interface {
	Stats() pool.Stats
	Config() pool.Config
}

// Observe takes the attributes that Config left unset from src's
// configuration and reports src's Stats as the connection and executor
// metrics, read once per collection. Call it once, after pool.Open.
// Calls and statements before Observe (pool.Open's own ping) are not
// reported: their attributes (db.system.name, the pool's name) are not
// known yet.
func (t *Telemetry) Observe(src Source) error {
	t.regMu.Lock()
	defer t.regMu.Unlock()
	if t.closed {
		return errors.New("otelpool: Observe after Close")
	}
	if t.observe {
		return errors.New("otelpool: Observe called twice; use one Telemetry per pool")
	}
	c := t.cfg
	pc := src.Config()
	dialect := ""
	if pc.Dialector != nil {
		dialect = pc.Dialector.Name()
	} else if pc.DatabaseURL != "" {
		// The redacted URL: what it names is all that is needed.
		if cc, err := pgx.ParseConfig(pc.DatabaseURL); err == nil {
			if c.ServerAddress == "" {
				c.ServerAddress = cc.Host
			}
			if c.ServerPort == 0 {
				c.ServerPort = int(cc.Port)
			}
			if c.Namespace == "" {
				c.Namespace = cc.Database
			}
		}
	}
	t.setAttrs(c, dialect)
	reg, err := t.inst.register(src, t.attrs.Load().poolSet)
	if err != nil {
		return fmt.Errorf("otelpool: %w", err)
	}
	t.reg, t.observe = reg, true
	return nil
}

// FleetSource is what ObserveFleet reads. *fleet.Member satisfies it.
type FleetSource interface {
	FleetFigures() (share, instances int, demand float64)
}

// The names of the fleet's metrics.
const (
	MetricFleetShare     = "tollgate.fleet.share"     // gauge {connection}: this instance's share of the budget
	MetricFleetInstances = "tollgate.fleet.instances" // gauge {instance}: live instances at the last heartbeat
	MetricFleetDemand    = "tollgate.fleet.demand"    // gauge {call}: the fleet's smoothed demand
)

// ObserveFleet reports src's figures (package fleet's Member) as
// tollgate.fleet.share, .instances and .demand, with the pool's
// db.client.connection.pool.name. Call it after Observe.
func (t *Telemetry) ObserveFleet(src FleetSource) error {
	t.regMu.Lock()
	defer t.regMu.Unlock()
	if t.closed || t.fleet != nil || t.attrs.Load() == nil {
		return errors.New("otelpool: ObserveFleet before Observe, after Close, or twice")
	}
	m := t.inst.meter
	share, err1 := m.Int64ObservableGauge(MetricFleetShare, metric.WithUnit("{connection}"),
		metric.WithDescription("The connections of the fleet's budget this instance may hold now."))
	inst, err2 := m.Int64ObservableGauge(MetricFleetInstances, metric.WithUnit("{instance}"),
		metric.WithDescription("Live instances of the fleet at the last heartbeat, this one included."))
	demand, err3 := m.Float64ObservableGauge(MetricFleetDemand, metric.WithUnit("{call}"),
		metric.WithDescription("The fleet's smoothed demand: calls in flight and queued, summed over the live instances."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("otelpool: %w", err)
	}
	withPool := metric.WithAttributeSet(t.attrs.Load().poolSet)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s, n, d := src.FleetFigures()
		o.ObserveInt64(share, int64(s), withPool)
		o.ObserveInt64(inst, int64(n), withPool)
		o.ObserveFloat64(demand, d, withPool)
		return nil
	}, share, inst, demand)
	if err != nil {
		return fmt.Errorf("otelpool: %w", err)
	}
	t.fleet = reg
	return nil
}

// Close stops reporting the pool's and the fleet's metrics. Spans of calls
// still running end as usual. It is idempotent.
func (t *Telemetry) Close() error {
	t.regMu.Lock()
	defer t.regMu.Unlock()
	t.closed = true
	var errs []error
	for _, r := range []*metric.Registration{&t.reg, &t.fleet} {
		if *r != nil {
			errs = append(errs, (*r).Unregister())
			*r = nil
		}
	}
	return errors.Join(errs...)
}

// PoolName is the db.client.connection.pool.name in use; "" before Observe.
func (t *Telemetry) PoolName() string {
	if a := t.attrs.Load(); a != nil {
		return a.poolName
	}
	return ""
}

func (t *Telemetry) setAttrs(c Config, dialect string) {
	a := &callAttrs{system: c.SystemName}
	if a.system == "" {
		a.system = systemName(dialect)
	}
	a.base = append(a.base, semconv.DBSystemNameKey.String(a.system))
	if c.Namespace != "" {
		a.base = append(a.base, semconv.DBNamespace(c.Namespace))
	}
	if c.ServerAddress != "" {
		a.base = append(a.base, semconv.ServerAddress(c.ServerAddress))
		if c.ServerPort != 0 {
			a.base = append(a.base, semconv.ServerPort(c.ServerPort))
		}
	}
	a.poolName = c.PoolName
	if a.poolName == "" {
		a.poolName = defaultPoolName(c.ServerAddress, c.ServerPort, c.Namespace, a.system)
	}
	a.poolSet = attribute.NewSet(semconv.DBClientConnectionPoolName(a.poolName))
	a.poolOpt = metric.WithAttributeSet(a.poolSet)
	switch {
	case c.Namespace != "":
		a.target = c.Namespace
	case c.ServerAddress != "":
		a.target = hostPort(c.ServerAddress, c.ServerPort)
	}
	t.attrs.Store(a)
}

// defaultPoolName is the semantic conventions' server.address:server.port/db.namespace.
func defaultPoolName(addr string, port int, ns, system string) string {
	if addr == "" && ns == "" {
		return system
	}
	return hostPort(addr, port) + "/" + ns
}

func hostPort(addr string, port int) string {
	if port == 0 {
		return addr
	}
	return addr + ":" + strconv.Itoa(port)
}

// systemName maps a GORM dialector's name to db.system.name.
func systemName(dialect string) string {
	switch strings.ToLower(dialect) {
	case "", "postgres", "postgresql", "pgx":
		return semconv.DBSystemNamePostgreSQL.Value.AsString()
	case "sqlite", "sqlite3":
		return semconv.DBSystemNameSQLite.Value.AsString()
	case "mysql":
		return semconv.DBSystemNameMySQL.Value.AsString()
	case "sqlserver":
		return semconv.DBSystemNameMicrosoftSQLServer.Value.AsString()
	}
	return semconv.DBSystemNameOtherSQL.Value.AsString()
}
