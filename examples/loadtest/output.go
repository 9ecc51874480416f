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
	fmt.Fprintf(w, "run %s: %s, workload %s, %d users x %d instance(s), limit %d (tollgate MaxConcurrent %d, baseline MaxOpenConns %s), query %gms, fault %s\n\n",
		rep.RunID, rep.Target, rep.Workload, rep.Users, rep.Instances, rep.Limit, rep.MaxConc, baselineMO(rep.BaselineMO), rep.QueryMS, rep.Fault)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tops\terrors\terr %\tops/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\tqwait p50\tqwait p99\tmax conns\t")
	for _, m := range rep.Order {
		s := rep.Modes[m]
		conns := "n/a"
		if s.MaxServerConns >= 0 {
			conns = fmt.Sprint(s.MaxServerConns)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n",
			m, s.Operations, s.Errors, s.ErrorRatePct, s.ThroughputOpsS, s.LatencyMS.P50, s.LatencyMS.P95, s.LatencyMS.P99, s.LatencyMS.Max,
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
	}
	if r := rep.Ratios; r != nil {
		fmt.Fprintf(w, "\nratios tollgate/baseline: p50 %.2f, p99 %.2f (baseline p99 is %.1fx tollgate's), throughput %.2f\n",
			r.P50, r.P99, r.BaselineP99Xs, r.Throughput)
	}
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
