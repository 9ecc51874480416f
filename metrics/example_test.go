package metrics_test

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate-db/tollgate/metrics"
	"github.com/tollgate-db/tollgate/pool"
)

func ExampleNewCollector() {
	// In a service, pass the *pool.Pool and serve the registry with promhttp.
	src := statsFunc(func() pool.Stats {
		return pool.Stats{Executor: pool.ExecutorStats{QueueLength: 4, InFlight: 3, Limit: 3}}
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(src, "shop", nil))

	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP shop_executor_queue_length Calls waiting for an executor slot now.
# TYPE shop_executor_queue_length gauge
shop_executor_queue_length 4
`), "shop_executor_queue_length")
	fmt.Println(err)
	// Output:
	// <nil>
}
