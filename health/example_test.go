package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/pool"
)

// exampleSource stands in for a *pool.Pool.
type exampleSource struct{}

func (exampleSource) Stats() pool.Stats {
	return pool.Stats{Executor: pool.ExecutorStats{Limit: 3, MaxConcurrent: 3}, Profile: pool.Production}
}
func (exampleSource) Ping(context.Context) error { return nil }
func (exampleSource) Cleanup(context.Context) (pool.CleanupResult, error) {
	return pool.CleanupResult{OpenBefore: 4, OpenAfter: 1, IdleClosed: 3, InUse: 1}, nil
}

func ExampleChecker_Handler() {
	hc := health.New(exampleSource{}, health.Config{Token: "0123456789abcdef0123"}) // pass your *pool.Pool
	defer hc.Close()
	mux := http.NewServeMux()
	mux.Handle("/api/health/database", hc.Handler())

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health/database", nil))
	fmt.Println(rec.Code, hc.Check(context.Background()).Status)

	req := httptest.NewRequest("POST", "/api/health/database", strings.NewReader(`{"action":"cleanup"}`))
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("PUT", "/api/health/database", nil))
	fmt.Println(rec.Code, rec.Header().Get("Allow"))
	// Output:
	// 200 healthy
	// 401 {"error":"missing or wrong bearer token"}
	// 405 GET, HEAD, POST
}

// busySource is a pool with every slot busy and calls queued.
type busySource struct{ exampleSource }

func (busySource) Stats() pool.Stats {
	s := exampleSource{}.Stats()
	s.Executor.InFlight, s.Executor.QueueLength = 3, 7
	return s
}

// The report names the seed's thresholds a pool crosses; the status is
// what it would be without them.
func ExampleReport_warnings() {
	hc := health.New(busySource{}, health.Config{})
	defer hc.Close()
	r := hc.Check(context.Background())
	fmt.Println(r.Status)
	for _, w := range r.Warnings {
		fmt.Printf("%s: %g over %g\n", w.Code, w.Value, w.Threshold)
	}
	// Output:
	// degraded
	// executor_utilization_high: 100 over 80
	// queue_length_high: 7 over 2
}
