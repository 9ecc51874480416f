package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tollgate-db/tollgate/internal/redact"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is the loadtest command, built once by TestMain: the tests run
// it as a user would, -instances needs a real executable to re-execute.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loadtest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "loadtest")
	args := []string{"build", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The parts of the -json object the tests look at.
type result struct {
	RunID     string                 `json:"run_id"`
	Database  string                 `json:"database"`
	Instances int                    `json:"instances"`
	Modes     map[string]modeFigures `json:"modes"`
	Ratios    *struct {
		P99        float64 `json:"p99_tollgate_over_baseline"`
		Throughput float64 `json:"throughput_tollgate_over_baseline"`
	} `json:"ratios"`
	Rounds json.RawMessage `json:"rounds"`
}

type modeFigures struct {
	Instances      int               `json:"instances"`
	Operations     int64             `json:"operations"`
	Succeeded      int64             `json:"succeeded"`
	Errors         int64             `json:"errors"`
	ErrorsByClass  map[string]int64  `json:"errors_by_class"`
	ErrorSamples   map[string]string `json:"error_samples"`
	ThroughputOpsS float64           `json:"throughput_ops_s"`
	LatencyMS      struct {
		P50, P90, P95, P99, Max float64
	} `json:"latency_ms"`
	MaxServerConns int      `json:"max_server_conns"`
	Retried        int64    `json:"retried"`
	Exhaustions    int64    `json:"exhaustions"`
	FinalLimits    []int    `json:"final_limits"`
	Faults         int64    `json:"faults"`
	Terminated     int64    `json:"terminated_backends"`
	FaultLog       []string `json:"fault_log"`
	Writes         *struct {
		Acknowledged, Unknown, Failed, Missing, Duplicated int64
		UnknownIn                                          int64  `json:"unknown_in"`
		Unexpected                                         int64  `json:"unexpected"`
		Verified                                           bool   `json:"verified"`
		VerifyErr                                          string `json:"verify_error"`
	} `json:"writes"`
}

// runLoadtest runs the binary with args plus -json, bounded by limit, and
// returns the parsed last line of stdout.
func runLoadtest(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(args, "-json", "-progress", "off")...)
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
	var r result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line of stdout is not the JSON result: %v", err)
	}
	return r
}

func TestSQLiteBothModesWithHTMLReport(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "report.html")
	r := runLoadtest(t, 60*time.Second, "-sqlite", filepath.Join(dir, "lt.db"), "-mode", "both", "-users", "4",
		"-ops", "200", "-workload", "mix", "-report", html)
	if r.Database != "sqlite" || r.Ratios == nil {
		t.Fatalf("database %q, ratios %v: want sqlite with ratios", r.Database, r.Ratios)
	}
	for _, mode := range []string{"tollgate", "baseline"} {
		m, ok := r.Modes[mode]
		switch {
		case !ok:
			t.Fatalf("no %s figures", mode)
		case m.Operations != 200 || m.Errors != 0 || m.Succeeded != 200:
			t.Errorf("%s: %d operations, %d errors (%v): want 200 and 0", mode, m.Operations, m.Errors, m.ErrorSamples)
		case m.LatencyMS.P50 <= 0 || m.LatencyMS.P99 < m.LatencyMS.P50 || m.LatencyMS.Max < m.LatencyMS.P99:
			t.Errorf("%s: latency percentiles out of order: %+v", mode, m.LatencyMS)
		case m.Writes == nil || !m.Writes.Verified || m.Writes.Missing != 0 || m.Writes.Duplicated != 0 || m.Writes.Acknowledged == 0:
			t.Errorf("%s: writes %+v: want verified, some acknowledged, none missing or duplicated", mode, m.Writes)
		}
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "tollgate", "baseline", "Errors per 250 ms", "Latency percentiles"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "src=", "href=", "@import", "url("} {
		if bytes.Contains(page, []byte(banned)) {
			t.Errorf("report is not self-contained: it contains %q", banned)
		}
	}
}

func TestSQLiteInstancesMergeTheirResults(t *testing.T) {
	dir := t.TempDir()
	r := runLoadtest(t, 60*time.Second, "-sqlite", filepath.Join(dir, "lt.db"), "-mode", "tollgate", "-instances", "3",
		"-users", "2", "-ops", "50", "-workload", "read")
	m := r.Modes["tollgate"]
	if r.Instances != 3 || m.Instances != 3 || len(m.FinalLimits) != 3 {
		t.Errorf("instances %d / %d, final limits %v: want 3 children merged", r.Instances, m.Instances, m.FinalLimits)
	}
	if m.Operations != 150 || m.Errors != 0 {
		t.Errorf("%d operations, %d errors: want 3 x 50 and none", m.Operations, m.Errors)
	}
}

func TestBadFlagsExitWithUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "fast"},
		{"-workload", "delete"},
		{"-users", "0"},
		{"-instances", "0"},
		{"-table", "Robert'); DROP TABLE students;--"},
		{"-limit", "2", "-max-concurrent", "3"},
		{"-fault", "terminate"}, // needs PostgreSQL
		{"stray"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(binary, args...)
			cmd.Env = append(os.Environ(), "DATABASE_URL=")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output:\n%s", err, out)
			}
		})
	}
}
