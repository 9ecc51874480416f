package otelpool_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/glebarez/sqlite"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/otelpool"
	"github.com/tollgate-db/tollgate/pool"
)

func Example() {
	ctx := context.Background()
	// The application's SDK; here one that keeps what it records in memory.
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer mp.Shutdown(ctx)
	defer tp.Shutdown(ctx)

	// Leave the providers unset to use the global ones (otel.SetTracerProvider).
	tel, err := otelpool.New(otelpool.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		panic(err)
	}
	defer tel.Close()

	dir, _ := os.MkdirTemp("", "otelpool-example-")
	defer os.RemoveAll(dir)
	p, err := pool.Open(ctx, pool.Config{Dialector: sqlite.Open(filepath.Join(dir, "app.db")), Tracer: tel})
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)
	if err := tel.Observe(p); err != nil {
		panic(err)
	}

	err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Exec("CREATE TABLE notes (id integer PRIMARY KEY, body text)").Error
	}, pool.Operation("CREATE TABLE", "notes"))
	fmt.Println("call:", err)
	ended := spans.Ended()
	fmt.Println("span:", ended[len(ended)-1].Name(), ended[len(ended)-1].SpanKind())

	var rm metricdata.ResourceMetrics
	reader.Collect(ctx, &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == "db.client.operation.duration" || m.Name == "db.client.connection.pending_requests" {
			fmt.Println("metric:", m.Name, m.Unit)
		}
	}
	// Output:
	// call: <nil>
	// span: CREATE TABLE notes client
	// metric: db.client.operation.duration s
	// metric: db.client.connection.pending_requests {request}
}
