package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tollgate-db/tollgate/fleet"
)

// fleetOpts are the flags of the fleet scenarios: the instances join one
// fleet, more join and some are killed mid-run.
type fleetOpts struct {
	FleetBudget  int
	FleetReserve int
	FleetPeriod  time.Duration
	FleetTable   string
	JoinAfter    time.Duration
	Join         int
	KillAfter    time.Duration
	Kill         int
	FairFrom     time.Duration // start of the window Jain's indexes are taken over; 0 = 5 s after the last event
	Busy         int           // with IdleUsers: only the first Busy instances run -users users
	IdleUsers    int

	// Set by the parent for its children.
	FleetExpect int           // instances a child waits to see in the table before it says ready
	StartOffset time.Duration // a late joiner's start, from the run's start
}

func (f *fleetOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&f.FleetBudget, "fleet-budget", 0, "the -instances children join one fleet (package fleet) sharing this many connections (0 = no fleet, -1 = the budget the server allows, directly on PostgreSQL)")
	fs.IntVar(&f.Busy, "busy", 0, "skewed demand: only the first -busy instances run -users users, the others -idle-users (0 = all run -users)")
	fs.IntVar(&f.IdleUsers, "idle-users", 1, "with -busy: users of each other instance")
	fs.IntVar(&f.FleetReserve, "fleet-reserve", 0, "fleet Reserve (0 = the package default: 1, or 5 % of the budget)")
	fs.DurationVar(&f.FleetPeriod, "fleet-period", 0, "fleet heartbeat Period (0 = the package default, 1s)")
	fs.StringVar(&f.FleetTable, "fleet-table", "", "fleet table (default: the package's tollgate_fleet)")
	fs.DurationVar(&f.JoinAfter, "join-after", 0, "with -join: when the extra instances start")
	fs.IntVar(&f.Join, "join", 0, "instances that start -join-after into the run (and run to its end)")
	fs.DurationVar(&f.KillAfter, "kill-after", 0, "with -kill: when instances are killed")
	fs.IntVar(&f.Kill, "kill", 0, "instances SIGKILLed -kill-after into the run (the first ones: 0, 1, …)")
	fs.DurationVar(&f.FairFrom, "fair-from", 0, "start of the window the fairness figures cover (0 = 5s after the last join or kill, or 5s)")
	fs.IntVar(&f.FleetExpect, "fleet-expect", 0, "internal: instances to wait for in the fleet before ready")
	fs.DurationVar(&f.StartOffset, "start-offset", 0, "internal: a late instance's start within the run")
}

func (f *fleetOpts) validate(c *config) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if f.FleetBudget < -1 || f.Busy < 0 || f.IdleUsers < 1 || f.FleetReserve < 0 || f.FleetPeriod < 0 || f.Join < 0 || f.Kill < 0 || f.JoinAfter < 0 || f.KillAfter < 0 || f.FairFrom < 0 {
		bad("the fleet, -join and -kill settings must not be negative")
	}
	if f.FleetBudget != 0 && !c.postgres() {
		bad("-fleet-budget needs a PostgreSQL database URL: the fleet coordinates through a table there")
	}
	if f.FleetBudget != 0 && c.Mode != modeTollgate {
		bad("-fleet-budget needs -mode tollgate (the baseline has no executor to bound)")
	}
	if f.FleetBudget != 0 && c.Instances < 2 && !c.Child {
		bad("-fleet-budget needs -instances of at least 2: each instance of the fleet is a child process")
	}
	if (f.Join > 0 || f.Kill > 0) && c.Instances < 2 && !c.Child {
		bad("-join and -kill need -instances of at least 2")
	}
	if f.Join > 0 && (f.JoinAfter <= 0 || f.JoinAfter >= c.Duration) {
		bad("-join-after must be within the run's -duration, got %s", f.JoinAfter)
	}
	if f.Kill > 0 && (f.KillAfter <= 0 || f.KillAfter >= c.Duration) {
		bad("-kill-after must be within the run's -duration, got %s", f.KillAfter)
	}
	if !c.Child && f.Kill >= c.Instances {
		bad("-kill (%d) must leave at least one of the -instances (%d)", f.Kill, c.Instances)
	}
	if c.Instances+f.Join > 64 {
		bad("-instances plus -join must be at most 64")
	}
	if f.Join+f.Kill > 0 && c.Mode == modeBoth {
		bad("-join and -kill need one -mode (tollgate or baseline)")
	}
	return errors.Join(errs...)
}

// fairFrom is where the fairness window starts.
func (f *fleetOpts) fairFrom(d time.Duration) time.Duration {
	if f.FairFrom > 0 {
		return min(f.FairFrom, d)
	}
	last := time.Duration(0)
	if f.Join > 0 {
		last = max(last, f.JoinAfter)
	}
	if f.Kill > 0 {
		last = max(last, f.KillAfter)
	}
	w := last + 5*time.Second
	if w > d-time.Second {
		w = max(d-time.Second, 0)
	}
	return w
}

// joinFleet makes a child's pool a member of the run's fleet and waits,
// when told how many to expect, until it has seen them all and
// heartbeated once more, so that no instance still holds a share it got
// before the others' rows were in when the users start.
func joinFleet(ctx context.Context, c *config, t *target) (*fleet.Member, error) {
	if c.FleetBudget == 0 || t.pool == nil {
		return nil, nil
	}
	budget := max(c.FleetBudget, 0) // -1: read from the server
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if c.Verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := fleet.Join(ctx, t.pool, fleet.Config{
		Name: "lt_" + c.RunID, ID: fmt.Sprintf("i%02d", c.Instance), Budget: budget, Reserve: c.FleetReserve,
		Period: c.FleetPeriod, Table: c.FleetTable, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if c.FleetExpect > 1 {
		deadline := time.Now().Add(30 * time.Second)
		seen := int64(-1)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			s := m.Stats()
			if s.Instances >= c.FleetExpect && seen < 0 {
				seen = s.Heartbeats
			}
			if seen >= 0 && s.Heartbeats >= seen+1 {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling the member's figures
		}
	}
	return m, nil
}

// sampleInstance records this instance's executor limit, fleet share and
// exhaustions every bucketWidth until stop is closed.
func sampleInstance(t *target, m *fleet.Member, r *rawResult, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if t.pool == nil {
		return
	}
	tick := time.NewTicker(bucketWidth)
	defer tick.Stop()
	for {
		e := t.pool.Stats().Executor
		r.LimitTimeline = append(r.LimitTimeline, e.Limit)
		r.ExhTimeline = append(r.ExhTimeline, e.Exhaustions)
		if m != nil {
			st := m.Stats()
			r.ShareTimeline = append(r.ShareTimeline, st.Share)
			r.FleetBudget, r.FleetReserve = st.Budget, st.Reserve
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// usageWithoutInternal prints the flags as flag.PrintDefaults does,
// leaving out those whose usage starts with "internal:" (what the parent
// tells its children).
func usageWithoutInternal(fs *flag.FlagSet, w io.Writer) {
	pub := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	pub.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "internal:") {
			return
		}
		pub.Var(f.Value, f.Name, f.Usage)
		pub.Lookup(f.Name).DefValue = f.DefValue
	})
	pub.PrintDefaults()
}
