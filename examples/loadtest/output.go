package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// printTable writes the human-readable figures of rep.
func printTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "run %s: %s, workload %s, %d users x %d instance(s), limit %d (tollgate MaxConcurrent %d, baseline MaxOpenConns %s), %s, fault %s\n\n",
		rep.RunID, rep.Target, rep.Workload, rep.Users, rep.Instances, rep.Limit, rep.MaxConc, baselineMO(rep.BaselineMO), queryTime(rep), rep.Fault)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tops\terrors\terr %\tops/s\tcpu µs/op\tp50 ms\tp95 ms\tp99 ms\tmax ms\tqwait p50\tqwait p99\tmax conns\t")
	for _, m := range rep.Order {
		s := rep.Modes[m]
		conns := "n/a"
		if s.MaxServerConns >= 0 {
			conns = fmt.Sprint(s.MaxServerConns)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n",
			m, s.Operations, s.Errors, s.ErrorRatePct, s.ThroughputOpsS, s.CPUMicrosPerOp, s.LatencyMS.P50, s.LatencyMS.P95, s.LatencyMS.P99, s.LatencyMS.Max,
			s.QueueWaitMS.P50, s.QueueWaitMS.P99, conns)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, m := range rep.Order {
		s := rep.Modes[m]
		fmt.Fprintf(w, "%s: errors by class: %s\n", m, classList(s.ErrorsByClass))
		for _, cl := range slices.Sorted(maps.Keys(s.ErrorSamples)) {
			fmt.Fprintf(w, "    %s, e.g.: %s\n", cl, oneLine(s.ErrorSamples[cl], 160))
		}
		if m == modeTollgate {
			fmt.Fprintf(w, "    executor: %d retries, %d exhaustions, limit lowered %d / raised %d times, %d cleanups, final limit(s) %v\n",
				s.Retried, s.Exhaustions, s.LimitDecreases, s.LimitIncreases, s.Cleanups, s.FinalLimits)
		}
		if s.Writes != nil {
			wr := s.Writes
			fmt.Fprintf(w, "    writes: %d acknowledged, %d outcome unknown (%d of them in the table), %d failed; verified=%v: %d acknowledged missing, %d keys duplicated, %d failed writes present",
				wr.Acknowledged, wr.Unknown, wr.UnknownIn, wr.Failed, wr.Verified, wr.Missing, wr.Duplicated, wr.Unexpected)
			if wr.VerifyError != "" {
				fmt.Fprintf(w, " (verify error: %s)", wr.VerifyError)
			}
			fmt.Fprintln(w)
		}
		if s.Faults > 0 || len(s.FaultLog) > 0 {
			fmt.Fprintf(w, "    faults: %d injected, %d backends terminated %s\n", s.Faults, s.Terminated, strings.Join(s.FaultLog, "; "))
		}
		if s.Fleet != nil {
			printFleet(w, s.Fleet)
		}
	}
	if r := rep.Ratios; r != nil {
		fmt.Fprintf(w, "\nratios tollgate/baseline: p50 %.2f, p99 %.2f (baseline p99 is %.1fx tollgate's), throughput %.2f\n",
			r.P50, r.P99, r.BaselineP99Xs, r.Throughput)
	}
}

// queryTime says what -query-ms did: nothing on SQLite, which has no
// pg_sleep.
func queryTime(rep *report) string {
	if rep.Database != "postgres" {
		return "no server time per read (SQLite)"
	}
	return fmt.Sprintf("query %gms", rep.QueryMS)
}

func baselineMO(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func classList(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// printJSON writes rep as one line.
func printJSON(w io.Writer, rep *report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printFleet writes the per-instance table and the fleet's figures of a
// -fleet-budget run.
func printFleet(w io.Writer, f *fleetSummary) {
	fmt.Fprintf(w, "\nfleet: budget %d, reserve %d (capacity %d); fairness over [%.1fs, %.1fs]\n", f.Budget, f.Reserve, f.Capacity, f.WindowFromS, f.WindowToS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "instance\tstart s\tkilled s\tfinal limit\tmean limit\tops\tok ops/s\tp99 ms\t")
	for _, s := range f.Instances {
		killed := "-"
		if s.Killed {
			killed = fmt.Sprintf("%.1f", s.KilledS)
		}
		if s.Killed {
			fmt.Fprintf(tw, "i%02d\t%.1f\t%s\t-\t-\t-\t-\t-\t\n", s.Instance, s.StartS, killed)
			continue
		}
		fmt.Fprintf(tw, "i%02d\t%.1f\t%s\t%d\t%.2f\t%d\t%.0f\t%.2f\t\n", s.Instance, s.StartS, killed, s.FinalLimit, s.MeanLimit, s.Ops, s.OpsPerS, s.P99MS)
	}
	tw.Flush()
	fmt.Fprintf(w, "    Jain's index: mean limits %.3f (worst 1 s %.3f, final limits %.3f), throughput %.3f\n", f.JainLimits, f.JainLimitsMin, f.JainFinalLimits, f.JainThroughput)
	fmt.Fprintf(w, "    limits in use: %.1f of %d on average (%.0f %%); server connections: max %d, %d of %d samples above the budget; exhaustions after 2 s: %d\n",
		f.MeanLimitSum, f.Capacity, f.UsePct, f.MaxServerConns, f.ConnOver, f.ConnSamples, f.ExhaustionsLate)
	if f.ReclaimS >= 0 {
		fmt.Fprintf(w, "    killed instances' shares held by the others (capacity − 1 reached) %.2f s after the kill\n", f.ReclaimS)
	}
}
