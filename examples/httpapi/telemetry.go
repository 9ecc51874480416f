package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tollgate-db/tollgate/otelpool"
	"github.com/tollgate-db/tollgate/pool"
)

// telemetry is the example's OpenTelemetry setup: the SDK providers the
// environment asks for and the otelpool.Telemetry over them. Its zero
// value (both exporters "none") costs nothing.
type telemetry struct {
	tel      *otelpool.Telemetry // nil when off
	shutdown []func(context.Context) error
}

// setupTelemetry reads the OpenTelemetry SDK's own variables,
// OTEL_METRICS_EXPORTER and OTEL_TRACES_EXPORTER, with the values this
// example ships exporters for:
//
//	OTEL_METRICS_EXPORTER=prometheus  db.client.* on the admin /metrics, beside tollgate_*
//	OTEL_METRICS_EXPORTER=console     every metric to out, every OTEL_METRIC_EXPORT_INTERVAL ms (60000)
//	OTEL_TRACES_EXPORTER=console      every span to out, as JSON
//	none, or unset                    off (the SDK's default, otlp, is not built in)
//
// reg is the admin registry the Prometheus exporter registers with.
func setupTelemetry(getenv func(string) string, reg prometheus.Registerer, out io.Writer) (*telemetry, error) {
	t := &telemetry{}
	cfg := otelpool.Config{}
	switch v := getenv("OTEL_METRICS_EXPORTER"); v {
	case "", "none":
	case "prometheus":
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, fmt.Errorf("OTEL_METRICS_EXPORTER=prometheus: %w", err)
		}
		// tollgate_* come from the native collector on the same registry:
		// keep OpenTelemetry's copies of them off this endpoint.
		drop := sdkmetric.NewView(sdkmetric.Instrument{Name: "tollgate.*"}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(drop))
		cfg.MeterProvider = mp
		t.shutdown = append(t.shutdown, mp.Shutdown)
	case "console":
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(out))
		if err != nil {
			return nil, fmt.Errorf("OTEL_METRICS_EXPORTER=console: %w", err)
		}
		interval := time.Minute
		if ms, err := strconv.Atoi(getenv("OTEL_METRIC_EXPORT_INTERVAL")); err == nil && ms > 0 {
			interval = time.Duration(ms) * time.Millisecond
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))))
		cfg.MeterProvider = mp
		t.shutdown = append(t.shutdown, mp.Shutdown)
	default:
		return nil, fmt.Errorf("OTEL_METRICS_EXPORTER=%q: this example knows prometheus, console and none", v)
	}
	switch v := getenv("OTEL_TRACES_EXPORTER"); v {
	case "", "none":
	case "console":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(out))
		if err != nil {
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=console: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
		cfg.TracerProvider = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: this example knows console and none", v)
	}
	if cfg.MeterProvider == nil && cfg.TracerProvider == nil {
		return t, nil
	}
	tel, err := otelpool.New(cfg)
	if err != nil {
		t.Shutdown(context.Background())
		return nil, err
	}
	t.tel = tel
	return t, nil
}

// Tracer is what pool.Config.Tracer gets: nil when telemetry is off.
func (t *telemetry) Tracer() pool.Tracer {
	if t.tel == nil {
		return nil
	}
	return t.tel
}

// Observe starts reporting p's figures.
func (t *telemetry) Observe(p *pool.Pool) error {
	if t.tel == nil {
		return nil
	}
	return t.tel.Observe(p)
}

// Shutdown flushes and stops the exporters; ctx bounds the flush.
func (t *telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.tel != nil {
		errs = append(errs, t.tel.Close())
	}
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
