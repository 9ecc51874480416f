// Package otelpool reports a tollgate pool to OpenTelemetry with the
// database semantic conventions (semconv v1.43.0, the newest that
// go.opentelemetry.io/otel v1.47.0 ships): one CLIENT span per call with
// the executor's queue in it, a child span per statement, and the
// db.client.operation.duration and db.client.connection.* metrics, the
// executor's queue and wait included, beside tollgate's own under
// "tollgate.".
//
// It imports the OpenTelemetry API only: the application chooses the SDK
// and the exporters. With no provider configured its Enabled (the pool's
// optional EnabledTracer) answers false after two reads of the global
// providers, the call runs as if there were no Tracer, and nothing is
// allocated.
//
//	tel, err := otelpool.New(otelpool.Config{})
//	p, err := pool.Open(ctx, pool.Config{DatabaseURL: url, Tracer: tel})
//	err = tel.Observe(p)
//	defer tel.Close()
//
// # Spans
//
// A call made with Do, Transaction or a repository method is one CLIENT
// span named "{db.operation.name} {target}" (pool.Operation names the
// operation and the collection; without it the span is named after the
// target: db.namespace, else server.address:server.port, else
// db.system.name). Its events are "queued" (the call had to wait for a
// slot), "admitted" (with tollgate.queue.wait_time and
// tollgate.call.attempt) and one "retry" per retry (attempt, class,
// error.type, db.response.status_code, tollgate.exhaustion.source when
// the pool was out of slots, backoff). At its end it carries
// tollgate.queue.wait_time (seconds, every attempt's wait added up),
// tollgate.call.attempts and, on failure, db.response.status_code (the
// SQLSTATE) and error.type: the SQLSTATE when the database answered, else
// queue_timeout, queue_full, pool_closed, commit_unknown or the error's
// pool.Class ("transient", "connection_lost", "canceled", ...). Error
// messages are never recorded: a database's messages can quote row values.
//
// Statements become child spans through pgx's tracer: the pool installs a
// Tracer that is also a pgx.QueryTracer on every connection it opens, next
// to its own. No query text is recorded unless Config.QueryText is set,
// and arguments never are.
//
// # Metrics
//
// From the tracer's events: db.client.operation.duration (the whole call:
// queue, attempts, backoffs; the conventions' buckets),
// db.client.connection.wait_time (each attempt's wait for an executor
// slot), db.client.connection.use_time (each attempt's time holding one),
// db.client.connection.create_time (pgx's connect, TLS and
// authentication included) and db.client.response.returned_rows (the rows
// a call's SELECTs returned, from their command tags; calls that ran none
// record nothing).
//
// Read from the pool's Stats at each collection:
// db.client.connection.count (state used and idle: database/sql's
// connections), .idle.max (the idle cap in force: MaxIdleConns, lowered
// with the adaptive limit), .idle.min (0: database/sql keeps no minimum),
// .max (MaxOpenConns), .pending_requests (calls waiting in the executor's
// queue), .timeouts (calls that gave up waiting, ErrQueueTimeout), and
// tollgate's tollgate.executor.limit, .limit.max, .in_flight,
// .limit.changes (by tollgate.limit.direction), .exhaustions (by
// tollgate.exhaustion.source: postgres, pgbouncer, supavisor), .retries
// and .rejections.
//
// Every connection metric carries db.client.connection.pool.name: by
// default server.address:server.port/db.namespace, as the conventions say.
package otelpool
