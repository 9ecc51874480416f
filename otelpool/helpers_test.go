package otelpool_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tollgate-db/tollgate/otelpool"
)

// sdk is the real OpenTelemetry SDK with in-memory readers.
type sdk struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	mp     *sdkmetric.MeterProvider
	tp     *sdktrace.TracerProvider
}

func newSDK(t testing.TB) *sdk {
	t.Helper()
	s := &sdk{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() {
		s.mp.Shutdown(context.Background())
		s.tp.Shutdown(context.Background())
	})
	return s
}

func (s *sdk) telemetry(t testing.TB, cfg otelpool.Config) *otelpool.Telemetry {
	t.Helper()
	cfg.MeterProvider, cfg.TracerProvider = s.mp, s.tp
	tel, err := otelpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Close() })
	return tel
}

// collect reads every metric, by name.
func (s *sdk) collect(t testing.TB) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelpool.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelpool.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// kind is an instrument kind as the SDK's data shows it.
type kind string

const (
	histogram     kind = "histogram"
	counter       kind = "counter"
	upDownCounter kind = "updowncounter"
	gauge         kind = "gauge"
)

func kindOf(m metricdata.Metrics) kind {
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64], metricdata.Histogram[int64]:
		return histogram
	case metricdata.Sum[int64]:
		if d.IsMonotonic {
			return counter
		}
		return upDownCounter
	case metricdata.Sum[float64]:
		if d.IsMonotonic {
			return counter
		}
		return upDownCounter
	case metricdata.Gauge[int64], metricdata.Gauge[float64]:
		return gauge
	}
	return "unknown"
}

// attrSets returns the attribute sets of m's data points.
func attrSets(m metricdata.Metrics) []attribute.Set {
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

// intValue is the value of the int64 data point of m whose attributes
// include every one of want; ok is false when there is none.
func intValue(m metricdata.Metrics, want ...attribute.KeyValue) (v int64, ok bool) {
	match := func(s attribute.Set) bool {
		for _, kv := range want {
			if got, ok := s.Value(kv.Key); !ok || got != kv.Value {
				return false
			}
		}
		return true
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				return p.Value, true
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				return p.Value, true
			}
		}
	}
	return 0, false
}

// histPoint is the data point of histogram m whose attributes include
// every one of want.
func histPoint(m metricdata.Metrics, want ...attribute.KeyValue) (metricdata.HistogramDataPoint[float64], bool) {
	d, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		return metricdata.HistogramDataPoint[float64]{}, false
	}
next:
	for _, p := range d.DataPoints {
		for _, kv := range want {
			if got, ok := p.Attributes.Value(kv.Key); !ok || got != kv.Value {
				continue next
			}
		}
		return p, true
	}
	return metricdata.HistogramDataPoint[float64]{}, false
}

// spanAttr returns the value of key among kvs.
func spanAttr(kvs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}
