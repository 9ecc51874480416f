package otelpool

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// maxCached bounds each cache below. The entries are few (operations ×
// collections × SQLSTATEs seen), but their inputs come from callers; past
// the bound an entry is built for each call, which is slower and no less
// correct.
const maxCached = 1024

// boundedMap is a read-mostly map that stops growing at maxCached.
type boundedMap struct {
	m sync.Map
	n atomic.Int64
}

func (b *boundedMap) load(k any) (any, bool) { return b.m.Load(k) }

func (b *boundedMap) store(k, v any) {
	if b.n.Load() < maxCached {
		if _, loaded := b.m.LoadOrStore(k, v); !loaded {
			b.n.Add(1)
		}
	}
}

type shapeKey struct {
	attrs    *callAttrs
	op, coll string
	tx       bool
}

// callShape is what every span of one kind of call starts with: building
// its name and options allocates, so it is built once per kind.
type callShape struct {
	name string
	opts []trace.SpanStartOption
}

// shape returns the span name and start options of a call.
func (t *Telemetry) shape(a *callAttrs, op, coll string, tx bool) *callShape {
	k := shapeKey{a, op, coll, tx}
	if s, ok := t.shapes.load(k); ok {
		return s.(*callShape)
	}
	kvs := make([]attribute.KeyValue, 0, len(a.base)+3)
	kvs = append(kvs, a.base...)
	if op != "" {
		kvs = append(kvs, semconv.DBOperationName(op))
	}
	if coll != "" {
		kvs = append(kvs, semconv.DBCollectionName(coll))
	}
	if tx {
		kvs = append(kvs, AttrTransaction.Bool(true))
	}
	target := coll
	if target == "" {
		target = a.target
	}
	s := &callShape{name: spanName(op, target, a.system),
		opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(kvs...)}}
	t.shapes.store(k, s)
	return s
}

type durationKey struct {
	attrs                 *callAttrs
	op, coll, code, etype string
}

// durationOpt returns the record option of one call's
// db.client.operation.duration: its attribute set, which building sorts,
// hashes and allocates.
func (t *Telemetry) durationOpt(c *call, code, etype string) metric.RecordOption {
	k := durationKey{c.attrs, c.op, c.coll, code, etype}
	if o, ok := t.durations.load(k); ok {
		return o.(metric.RecordOption)
	}
	kvs := make([]attribute.KeyValue, 0, len(c.attrs.base)+4)
	kvs = append(kvs, c.attrs.base...)
	if c.op != "" {
		kvs = append(kvs, semconv.DBOperationName(c.op))
	}
	if c.coll != "" {
		kvs = append(kvs, semconv.DBCollectionName(c.coll))
	}
	if code != "" {
		kvs = append(kvs, semconv.DBResponseStatusCode(code))
	}
	if etype != "" {
		kvs = append(kvs, semconv.ErrorTypeKey.String(etype))
	}
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	t.durations.store(k, o)
	return o
}
