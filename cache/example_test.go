package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-db/tollgate/cache"
)

func ExampleCache_GetOrLoad() {
	c := cache.New[string](cache.Config{TTL: 30 * time.Second, FailureTTL: 5 * time.Second})
	defer c.Close()

	load := func(ctx context.Context) (string, error) {
		fmt.Println("loading")
		return "fresh", nil
	}
	for range 3 {
		v, err := c.GetOrLoad(context.Background(), "answer", load)
		fmt.Println(v, err)
	}
	st := c.Stats()
	fmt.Println("loads:", st.Loads, "hits:", st.Hits)
	// Output:
	// loading
	// fresh <nil>
	// fresh <nil>
	// fresh <nil>
	// loads: 1 hits: 2
}
