package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// newRunID names a run; it is part of the application_name and of the
// rows' run column, so that runs never see each other.
func newRunID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func runTag(runID, mode string) string { return runID + "/" + mode }

// run executes every mode of c in turn on the same table and returns the
// report. It prints nothing on stdout; progress goes to the bar.
func run(ctx context.Context, c *config, ui *progressBar) (*report, error) {
	runID := newRunID()
	removeSQLite, err := prepareSQLite(c)
	if err != nil {
		return nil, err
	}
	defer removeSQLite()
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = ensureTable(setupCtx, c)
	cancel()
	if err != nil {
		return nil, err
	}
	defer cleanupRun(ctx, c, runID)
	rep := &report{
		RunID: runID, Database: "sqlite", Target: c.SQLitePath, Workload: c.Workload, Users: c.Users,
		Instances: c.Instances, Limit: c.Limit, MaxConc: c.MaxConcurrent, BaselineMO: c.BaselineMaxOpen,
		QueryMS: c.QueryMS, Fault: c.Fault, Started: time.Now().UTC(), Modes: map[string]modeSummary{},
	}
	if c.postgres() {
		rep.Database = "postgres"
		rep.Target = redacted(c.DatabaseURL)
	}
	acc := map[string]*rawResult{}
	for round := 1; round <= c.Rounds; round++ {
		id := runID // each round has its own rows and application_name
		if round > 1 {
			id = fmt.Sprintf("%sr%d", runID, round)
		}
		raws := map[string]*rawResult{}
		for _, mode := range c.modes() {
			var raw *rawResult
			if c.Instances > 1 {
				raw, err = runChildren(ctx, c, mode, id, ui)
			} else {
				raw, err = runLocal(ctx, c, mode, id, ui)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", mode, err)
			}
			raws[mode] = raw
			if a, ok := acc[mode]; ok {
				mergeRound(a, raw)
			} else {
				acc[mode] = raw
				rep.Order = append(rep.Order, mode)
			}
		}
		if c.Rounds > 1 {
			rep.Rounds = append(rep.Rounds, newRound(round, raws))
		}
	}
	for mode, raw := range acc {
		sum := raw.summary()
		sum.Fleet = fleetReport(c, raw)
		rep.Modes[mode] = sum
	}
	if t, ok := rep.Modes[modeTollgate]; ok {
		if b, ok := rep.Modes[modeBaseline]; ok {
			rep.Ratios = computeRatios(t, b)
		}
	}
	return rep, nil
}

// runLocal runs one mode in this process.
func runLocal(ctx context.Context, c *config, mode, runID string, ui *progressBar) (*rawResult, error) {
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t, err := openTarget(openCtx, c, mode, runID)
	cancel()
	if err != nil {
		return nil, err
	}
	defer t.close()
	obs, err := startObserver(ctx, c, t.appName)
	if err != nil {
		return nil, err
	}
	var cnt counters
	ui.start(mode, c, &cnt)
	raw, keys := runUsers(ctx, c, t, runTag(runID, mode), &cnt)
	ui.stop()
	obs.stop(raw)
	finish(ctx, c, t, runTag(runID, mode), raw, keys)
	return raw, nil
}

// finish verifies the writes and adds the target's own statistics.
func finish(ctx context.Context, c *config, t *target, tag string, raw *rawResult, keys *writeKeys) {
	if raw.Writes > 0 {
		verifyWrites(ctx, c, t, tag, keys, &raw.WriteOut)
	}
	if t.pool != nil {
		st := t.pool.Stats()
		e := st.Executor
		raw.Cleanups = st.Cleanups
		raw.Retried, raw.Exhaustions = e.Retried, e.Exhaustions
		raw.LimitDecreases, raw.LimitIncreases = e.LimitDecreases, e.LimitIncreases
		raw.FinalLimits = []int{e.Limit}
		return
	}
	if sqlDB, err := t.db.DB(); err == nil {
		s := sqlDB.Stats()
		raw.WaitCount, raw.WaitDuration = s.WaitCount, s.WaitDuration
	}
}
