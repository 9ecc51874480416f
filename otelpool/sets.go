package otelpool

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// maxCachedSets bounds the attribute sets of db.client.operation.duration
// kept for reuse. The sets are few (operations × collections × SQLSTATEs
// seen), but their inputs come from callers; past the bound a set is built
// for each call, which is slower and no less correct.
const maxCachedSets = 1024

type setKey struct {
	attrs                 *callAttrs
	op, coll, code, etype string
}

// setCache holds the duration metric's attribute sets: building one sorts
// and hashes its attributes and allocates, which costs more than the rest
// of the recording. It is read far more often than written.
type setCache struct {
	m sync.Map // setKey -> attribute.Set
	n atomic.Int64
}

// durationSet returns the attribute set of one call's duration.
func (t *Telemetry) durationSet(c *call, code, etype string) attribute.Set {
	k := setKey{c.attrs, c.op, c.coll, code, etype}
	if s, ok := t.sets.m.Load(k); ok {
		return s.(attribute.Set)
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
	s := attribute.NewSet(kvs...)
	if t.sets.n.Load() < maxCachedSets {
		if _, loaded := t.sets.m.LoadOrStore(k, s); !loaded {
			t.sets.n.Add(1)
		}
	}
	return s
}
