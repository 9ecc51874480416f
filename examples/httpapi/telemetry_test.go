package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// telemetryServer is the example wired as main wires it, on SQLite.
func telemetryServer(t *testing.T, vars map[string]string, out io.Writer) (*server, *telemetry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	tel, err := setupTelemetry(env(vars), reg, out)
	if err != nil {
		t.Fatal(err)
	}
	p, done, err := openPool(t.Context(), "", quiet, tel.Tracer())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(done)
	t.Cleanup(func() { p.Close(context.Background()) })
	if err := migrate(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := tel.Observe(p); err != nil {
		t.Fatal(err)
	}
	srv := newServer(p, serverConfig{Logger: quiet, Registry: reg})
	t.Cleanup(srv.Close)
	return srv, tel
}

func serveOne(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	return w
}

// TestTelemetryPrometheus: with OTEL_METRICS_EXPORTER=prometheus the admin
// /metrics serves the semantic-convention metrics beside tollgate_*, once.
func TestTelemetryPrometheus(t *testing.T) {
	srv, tel := telemetryServer(t, map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}, io.Discard)
	defer tel.Shutdown(context.Background())
	if w := serveOne(t, srv, "POST", "/api/users", `{"email":"ada@example.com","name":"Ada"}`); w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	w := serveOne(t, srv.Admin(), "GET", "/metrics", "")
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	body := w.Body.String()
	for _, want := range []string{
		`db_client_operation_duration_seconds_bucket{`,
		`db_system_name="sqlite"`,
		`db_client_connection_pending_requests{`,
		`db_client_connection_count{db_client_connection_pool_name="sqlite",db_client_connection_state="idle"`,
		"\ntollgate_executor_queue_length ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "postgresql") {
		t.Error("an SQLite pool reported under db.system.name postgresql (a call before Observe?)")
	}
	if n := strings.Count(body, "# TYPE tollgate_executor_limit "); n != 1 {
		t.Errorf("tollgate_executor_limit declared %d times, want once (the native collector's)", n)
	}
}

// TestTelemetryConsoleTraces: OTEL_TRACES_EXPORTER=console writes the
// calls' spans, flushed by Shutdown.
func TestTelemetryConsoleTraces(t *testing.T) {
	var out syncBuffer
	srv, tel := telemetryServer(t, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, &out)
	if w := serveOne(t, srv, "GET", "/api/users/1", ""); w.Code != http.StatusNotFound {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{`"SpanKind":3`, `"Key":"db.system.name","Value":{"Type":"STRING","Value":"sqlite"}`} {
		if !strings.Contains(s, want) {
			t.Errorf("console spans lack %s:\n%.2000s", want, s)
		}
	}
}

func TestTelemetryOffAndUnknown(t *testing.T) {
	tel, err := setupTelemetry(env(nil), prometheus.NewRegistry(), io.Discard)
	if err != nil || tel.Tracer() != nil {
		t.Fatalf("unset variables: tracer %v, err %v; want off", tel.Tracer(), err)
	}
	for _, kv := range []map[string]string{{"OTEL_METRICS_EXPORTER": "otlp"}, {"OTEL_TRACES_EXPORTER": "zipkin"}} {
		if _, err := setupTelemetry(env(kv), prometheus.NewRegistry(), io.Discard); err == nil {
			t.Errorf("%v: no error", kv)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
