package main_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// -rounds runs each mode that many times, interleaved: the operations add
// up over the rounds, and each round carries its own same-round ratios.
func TestSQLiteRounds(t *testing.T) {
	dir := t.TempDir()
	r := runLoadtest(t, 60*time.Second, "-sqlite", filepath.Join(dir, "lt.db"), "-mode", "tollgate,semaphore", "-rounds", "3",
		"-users", "2", "-ops", "20", "-workload", "read")
	for _, m := range []string{"tollgate", "semaphore"} {
		if f := r.Modes[m]; f.Operations != 60 || f.Errors != 0 || f.Instances != 1 {
			t.Errorf("%s: %d operations, %d errors, %d instances; want 3 rounds x 20, none, 1", m, f.Operations, f.Errors, f.Instances)
		}
	}
	var rounds []struct {
		Round int `json:"round"`
		Modes map[string]struct {
			ThroughputOpsS float64 `json:"throughput_ops_s"`
		} `json:"modes"`
		Vs map[string]struct {
			Throughput float64 `json:"throughput"`
		} `json:"tollgate_vs"`
	}
	if err := json.Unmarshal(r.Rounds, &rounds); err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 3 {
		t.Fatalf("%d rounds in the report, want 3", len(rounds))
	}
	for i, rf := range rounds {
		tg, sem := rf.Modes["tollgate"].ThroughputOpsS, rf.Modes["semaphore"].ThroughputOpsS
		if rf.Round != i+1 || tg <= 0 || sem <= 0 {
			t.Fatalf("round %+v: want round %d with both modes measured", rf, i+1)
		}
		if got, want := rf.Vs["semaphore"].Throughput, tg/sem; got < want*0.999 || got > want*1.001 {
			t.Fatalf("round %d: ratio %g, want tollgate/semaphore = %g", i+1, got, want)
		}
	}
}

// -rounds out of range, and pgxpool without PostgreSQL, are usage errors.
func TestRoundsAndPgxpoolFlags(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-rounds", "101"}, {"-mode", "pgxpool"}, {"-mode", "tollgate,nope"}} {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL=")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("%v: exit %v, want 2; output:\n%s", args, err, out)
		}
	}
}
