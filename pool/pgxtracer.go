package pool

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
)

// chainQueryTracer returns a pgx tracer that calls a, then b; either may
// be nil. pgx takes one tracer per connection: the pool's own and the
// application's (a Config.Tracer that is also a pgx.QueryTracer, such as
// otelpool's) are chained, never one put in the other's place.
func chainQueryTracer(a, b pgx.QueryTracer) pgx.QueryTracer {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return multitracer.New(a, b)
}
