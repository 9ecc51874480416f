package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the monitor

	"github.com/tollgate-db/tollgate/pool"
)

// sampleEvery is how often pg_stat_activity is sampled.
const sampleEvery = 50 * time.Millisecond

// restartCommand restarts the local PostgreSQL cluster (Debian layout):
// the first one pg_lsclusters lists, else 15/main.
func restartCommand(ctx context.Context) []string {
	version, name := "15", "main"
	if out, err := exec.CommandContext(ctx, "pg_lsclusters", "-h").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 2 {
			version, name = f[0], f[1]
		}
	}
	return []string{"pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"}
}

// observer watches one mode of a run from a separate plain connection:
// it samples how many server connections the run holds and injects the
// configured fault. It is started with the run and stopped after it.
type observer struct {
	db      *sql.DB
	app     string
	cancel  context.CancelFunc
	done    sync.WaitGroup
	maxSeen atomic.Int64
	faults  atomic.Int64
	killed  atomic.Int64
	errs    atomic.Int64
	faultMu sync.Mutex
	faultLg []string

	budget  int   // -fleet-budget: samples above it are counted
	series  []int // most connections per bucketWidth, owned by sample until stop
	samples int
	over    int
}

// startObserver starts sampling (PostgreSQL only) and the fault, if any.
// It returns nil, and does nothing, for SQLite.
func startObserver(ctx context.Context, c *config, app string) (*observer, error) {
	if !c.postgres() || c.MonitorURL == "" {
		return nil, nil
	}
	s, err := pool.ParseURL(c.MonitorURL)
	if err != nil {
		return nil, fmt.Errorf("monitor url: %w", err)
	}
	db := openAs(s, "lt_monitor")
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	ctx, cancel := context.WithCancel(ctx)
	o := &observer{db: db, app: app, cancel: cancel, budget: c.FleetBudget}
	o.maxSeen.Store(-1)
	o.done.Go(func() { o.sample(ctx) })
	switch c.Fault {
	case faultTerminate:
		o.done.Go(func() { o.terminate(ctx, c.FaultAfter, c.FaultEvery) })
	case faultRestart:
		o.done.Go(func() { o.restart(ctx, c.FaultAfter) })
	}
	return o, nil
}

func (o *observer) sample(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	begin := time.Now()
	for {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		var n int64
		err := o.db.QueryRowContext(qctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, o.app).Scan(&n)
		cancel()
		if err == nil {
			if n > o.maxSeen.Load() {
				o.maxSeen.Store(n)
			}
			o.samples++
			if o.budget > 0 && int(n) > o.budget {
				o.over++
			}
			b := int(time.Since(begin) / bucketWidth)
			for len(o.series) <= b {
				o.series = append(o.series, 0)
			}
			o.series[b] = max(o.series[b], int(n))
		} else if ctx.Err() == nil {
			o.errs.Add(1) // the server may be restarting: keep going
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// terminate kills the run's backends every period, as a failover or an
// idle-killer would.
func (o *observer) terminate(ctx context.Context, after, every time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(after):
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		var n int64
		err := o.db.QueryRowContext(qctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, o.app).Scan(&n)
		cancel()
		if err == nil {
			o.faults.Add(1)
			o.killed.Add(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// restart restarts PostgreSQL once.
func (o *observer) restart(ctx context.Context, after time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(after):
	}
	// The restart outlives the run's ctx: killing pg_ctlcluster half-way
	// (the run ended while a loaded machine was still stopping the server)
	// can leave PostgreSQL down for every test after this one. stop waits.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	start := time.Now()
	cmd := restartCommand(cctx)
	out, err := exec.CommandContext(cctx, cmd[0], cmd[1:]...).CombinedOutput()
	o.faults.Add(1)
	msg := fmt.Sprintf("restart took %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		msg = fmt.Sprintf("restart failed after %s: %v: %s", time.Since(start).Round(time.Millisecond), err, strings.TrimSpace(string(out)))
	}
	o.faultMu.Lock()
	o.faultLg = append(o.faultLg, msg)
	o.faultMu.Unlock()
	fmt.Fprintln(os.Stderr, "loadtest: "+msg)
}

// stop ends sampling and faults and records what they saw in r.
func (o *observer) stop(r *rawResult) {
	if o == nil {
		return
	}
	o.cancel()
	o.done.Wait()
	_ = o.db.Close()
	r.MaxServerConns = int(o.maxSeen.Load())
	r.ConnTimeline, r.ConnSamples, r.ConnOver = o.series, o.samples, o.over
	r.Faults = o.faults.Load()
	r.Terminated = o.killed.Load()
	o.faultMu.Lock()
	defer o.faultMu.Unlock()
	r.FaultLog = append(r.FaultLog, o.faultLg...)
}
