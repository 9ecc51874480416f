package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/tollgate-db/tollgate/internal/redact"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/internal/testdb"
)

type fleetFigures struct {
	Capacity        int     `json:"capacity"`
	JainLimits      float64 `json:"jain_mean_limits"`
	JainThroughput  float64 `json:"jain_throughput"`
	UsePct          float64 `json:"use_pct_of_capacity"`
	ConnSamples     int     `json:"conn_samples"`
	ConnOver        int     `json:"conn_samples_over_budget"`
	MaxServerConns  int     `json:"max_server_conns"`
	ExhaustionsLate int64   `json:"exhaustions_after_2s"`
	ReclaimS        float64 `json:"reclaim_s"`
	Instances       []struct {
		Instance int     `json:"instance"`
		Killed   bool    `json:"killed"`
		StartS   float64 `json:"start_s"`
		Ops      int64   `json:"ops"`
	} `json:"instances"`
}

// Four instances share a fleet budget of 15 through the session-mode
// PgBouncer whose max_client_conn is 15; two more join at 1.5 s, one is
// SIGKILLed at 3 s. Nothing fails, the server never holds more than the
// budget, the survivors share fairly and take the killed one's share back
// within its TTL and a period (and slack for a loaded machine). The
// 8-instance runs of the README are the full scenario; this one is
// bounded for CI (fleet period 250 ms, 6 s).
func TestFleetSharesThePoolersBudget(t *testing.T) {
	bouncer := testdb.PgBouncerSession(t)
	pg := testdb.Postgres(t)
	table := useTable(t, pg, "loadtest_it_fleet")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	args := []string{"-database-url", bouncer + sep(bouncer) + "connection_limit=6", "-monitor-url", pg, "-table", table,
		"-instances", "4", "-users", "10", "-mode", "tollgate", "-duration", "6s", "-workload", "read",
		"-fleet-budget", "15", "-fleet-reserve", "2", "-fleet-period", "250ms",
		"-join", "2", "-join-after", "1500ms", "-kill", "1", "-kill-after", "3s", "-fair-from", "4500ms",
		"-json", "-progress", "off"}
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("loadtest %s (%s)\n%s%s", redact.Text(strings.Join(args, " ")), time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("loadtest failed: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r struct {
		Modes map[string]struct {
			modeFigures
			Fleet *fleetFigures `json:"fleet"`
		} `json:"modes"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line of stdout is not the JSON result: %v", err)
	}
	m := r.Modes["tollgate"]
	f := m.Fleet
	if f == nil {
		t.Fatal("no fleet figures in the report")
	}
	if m.Operations == 0 || m.Errors != 0 {
		t.Errorf("%d errors in %d operations (%v): want none", m.Errors, m.Operations, m.ErrorsByClass)
	}
	if f.ConnSamples < 50 || f.ConnOver != 0 || f.MaxServerConns > 15 {
		t.Errorf("server connections: %d of %d samples above the budget 15, max %d: want none above", f.ConnOver, f.ConnSamples, f.MaxServerConns)
	}
	if len(f.Instances) != 6 {
		t.Fatalf("%d instances in the fleet table, want 6", len(f.Instances))
	}
	killed := 0
	for _, in := range f.Instances {
		if in.Killed {
			killed++
		} else if in.Ops == 0 {
			t.Errorf("instance %d (started at %.1fs) did no work", in.Instance, in.StartS)
		}
	}
	if killed != 1 {
		t.Errorf("%d instances killed, want 1", killed)
	}
	if f.JainLimits < 0.9 || f.JainThroughput < 0.85 {
		t.Errorf("Jain's index over the window: limits %.3f (want >= 0.9), throughput %.3f (want >= 0.85)", f.JainLimits, f.JainThroughput)
	}
	if f.UsePct < 85 {
		t.Errorf("limits in use: %.0f %% of the capacity %d, want >= 85 %%", f.UsePct, f.Capacity)
	}
	// TTL (3 periods) + one period, one more for a rotation in flight, and
	// a second of slack for the loaded machine and the 250 ms sampling.
	if f.ReclaimS < 0 || f.ReclaimS > 0.75+0.5+1 {
		t.Errorf("the killed instance's share came back after %.2f s, want within 2.25 s", f.ReclaimS)
	}
}
