package health_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate-db/tollgate/health"
)

type fakeFleet struct{}

func (fakeFleet) FleetFigures() (int, int, float64) { return 3, 5, 12.5 }

func TestReportShowsTheFleet(t *testing.T) {
	c := health.New(newFake(), health.Config{Fleet: fakeFleet{}})
	defer c.Close()
	r := c.Check(context.Background())
	if r.Fleet == nil || *r.Fleet != (health.Fleet{Share: 3, Instances: 5, Demand: 12.5}) {
		t.Fatalf("fleet %+v, want share 3, 5 instances, demand 12.5", r.Fleet)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"fleet":{"share":3,"instances":5,"demand":12.5}`) {
		t.Fatalf("JSON lacks the fleet object: %s", b)
	}

	plain := health.New(newFake(), health.Config{})
	defer plain.Close()
	b, _ = json.Marshal(plain.Check(context.Background()))
	if strings.Contains(string(b), `"fleet"`) {
		t.Fatalf("no Config.Fleet, yet the JSON has a fleet object: %s", b)
	}
}
