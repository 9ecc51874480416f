package fleet_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tollgate-db/tollgate/fleet"
	"github.com/tollgate-db/tollgate/pool"
)

// Every instance of a service behind a session pooler with 15 client slots
// joins the same fleet with the pooler's budget.
func ExampleJoin() {
	ctx := context.Background()
	p, err := pool.Open(ctx, pool.Config{DatabaseURL: os.Getenv("DATABASE_URL")})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	m, err := fleet.Join(ctx, p, fleet.Config{Name: "api", Budget: 15})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx) // before p.Close: deferred calls run last-in first-out
	s := m.Stats()
	fmt.Printf("share %d of %d among %d instances\n", s.Share, s.Capacity, s.Instances)
}

// Allocate is the division every instance computes: two busy instances
// and three idle ones sharing 14 connections.
func ExampleAllocate() {
	live := []fleet.Instance{
		{ID: "a", Demand: 20, MaxConns: 20},
		{ID: "b", Demand: 20, MaxConns: 20},
		{ID: "c", Demand: 0.2, MaxConns: 20},
		{ID: "d", Demand: 0, MaxConns: 20},
		{ID: "e", Demand: 1.5, MaxConns: 20},
	}
	shares := fleet.Allocate(14, 0, live)
	for _, in := range live {
		fmt.Println(in.ID, shares[in.ID])
	}
	// Output:
	// a 5
	// b 5
	// c 1
	// d 1
	// e 2
}
