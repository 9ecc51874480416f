package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-db/tollgate/internal/refused"
	"github.com/tollgate-db/tollgate/pool"
)

// samplesPerPeriod is how often per Period the member reads the pool's
// in-flight and queued calls for its demand.
const samplesPerPeriod = 5

// Member is one instance's membership of a fleet: a goroutine that
// heartbeats every Period, computes the fleet's allocation and sets the
// pool's ceiling to this instance's share. Close it before closing the
// pool. It is safe for concurrent use.
type Member struct {
	p        *pool.Pool
	st       store
	cfg      Config
	capacity int
	maxConns int
	log      *slog.Logger

	mu    sync.Mutex
	stats Stats // under mu

	// Owned by the goroutine (and by Join before it starts).
	share      int
	target     int     // the last allocation's
	demand     float64 // smoothed
	sampleSum  float64
	samples    int
	lastOK     time.Time // local start of the last successful heartbeat
	failing    bool
	failStreak int

	ctx       context.Context // ends at Close: bounds the heartbeats
	cancel    context.CancelFunc
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Stats is a value snapshot of a member's figures.
type Stats struct {
	Fleet, ID string
	// Budget and Reserve are in force; Capacity = Budget − Reserve is
	// what is allocated. BudgetSource says where Budget came from:
	// "config", or what Join read from the server.
	Budget, Reserve, Capacity int
	BudgetSource              string
	// Share is the ceiling this instance holds now; Target is what the
	// last allocation gave it (Share climbs to it as room appears).
	Share, Target int
	// Instances is the live instances at the last heartbeat, this one
	// included; Allocated the sum of the shares they hold.
	Instances, Allocated int
	// Demand is this instance's smoothed demand (in-flight plus queued
	// calls, capped at MaxOpenConns); FleetDemand the sum over the live
	// instances.
	Demand, FleetDemand float64
	// Oversubscribed: more live instances than Capacity; each holds 1.
	Oversubscribed bool
	// Fallback: heartbeats have failed for TTL; Share is the safe share.
	Fallback bool
	// LastHeartbeat is when the last successful heartbeat started (local
	// clock); zero before the first.
	LastHeartbeat time.Time
	// HeartbeatTook is how long the last successful heartbeat took,
	// waiting for a connection included.
	HeartbeatTook time.Duration
	Heartbeats    int64 // successful
	Failures      int64 // failed heartbeats
	LastError     string
	Closed        bool
}

// FleetFigures are the figures the health report shows: this instance's
// share, the live instances and the fleet's demand. It makes a Member a
// health.FleetSource.
func (m *Member) FleetFigures() (share, instances int, demand float64) {
	s := m.Stats()
	return s.Share, s.Instances, s.FleetDemand
}

// Stats returns a snapshot of the member's figures.
func (m *Member) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Join makes the instance of p a member of the fleet cfg.Name. It sets
// p's ceiling to 1 at once, creates the table when absent, settles the
// budget (reading the server's limits when cfg.Budget is 0), writes this
// instance's row with one heartbeat and takes the share that heartbeat
// allows, then heartbeats every Period until Close. ctx bounds the setup
// only. A connection the server or a pooler refuses for lack of slots
// (pool.IsPoolExhausted) during the setup is waited out with backoff for
// up to p's QueueTimeout, as a queued call would wait. When the first
// heartbeat fails Join returns the error and leaves p at 1 connection.
//
// The heartbeats do not go through p's executor: they would queue behind
// the very calls whose share they decide, and a saturated instance could
// not report its demand. They run on p's *sql.DB directly, so they use one
// of the connections the share allows (waiting at most for one call to
// finish when all are busy), take no executor slot and are not retried:
// the next Period is the retry.
func Join(ctx context.Context, p *pool.Pool, cfg Config) (*Member, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidConfig)
	}
	pc := p.Config()
	if pc.Dialector != nil {
		return nil, fmt.Errorf("%w: the fleet coordinates through a PostgreSQL table; this pool uses the %s dialector", ErrInvalidConfig, pc.Dialector.Name())
	}
	cfg, err := cfg.withDefaults(pc.ApplicationName)
	if err != nil {
		return nil, err
	}
	m := &Member{
		p: p, cfg: cfg, maxConns: pc.MaxOpenConns,
		st:   store{db: p.SQL(), table: cfg.Table, fleet: cfg.Name},
		log:  cfg.Logger.With("component", "tollgate/fleet", "fleet", cfg.Name, "instance", cfg.ID),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := p.SetCeiling(1); err != nil {
		return nil, fmt.Errorf("fleet: join: %w", err)
	}
	m.share = 1
	// A connection refused for lack of slots, as when many instances
	// start at once, is waited out like a queued call: for up to the
	// pool's QueueTimeout.
	waitOut := func(step func() error) error {
		return refused.Retry(ctx, pc.QueueTimeout, func(n int, in time.Duration, err error) {
			m.log.WarnContext(ctx, "tollgate: fleet: connection refused for lack of slots; trying again", "refusals", n, "in", in, "err", err)
		}, step)
	}
	if err := waitOut(func() error { return m.st.ensure(ctx) }); err != nil {
		return nil, err
	}
	source := "config"
	if cfg.Budget == 0 {
		if err := waitOut(func() (err error) { source, err = m.budgetFromServer(ctx, pc); return err }); err != nil {
			return nil, err
		}
	}
	if err := m.cfg.settleBudget(); err != nil {
		return nil, err
	}
	m.capacity = m.cfg.Budget - m.cfg.Reserve
	m.stats = Stats{Fleet: cfg.Name, ID: cfg.ID, Budget: m.cfg.Budget, Reserve: m.cfg.Reserve, Capacity: m.capacity,
		BudgetSource: source, Share: 1}
	m.sample()
	if err := waitOut(func() error { return m.heartbeat(ctx) }); err != nil {
		return nil, fmt.Errorf("fleet: join %s: first heartbeat: %w", cfg.Name, err)
	}
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.log.Info("tollgate: joined the fleet", "budget", m.cfg.Budget, "reserve", m.cfg.Reserve, "budget_source", source,
		"share", m.share, "instances", m.Stats().Instances)
	go m.loop()
	return m, nil
}

// budgetFromServer reads the server's limits, refusing when a pooler
// stands in between: its clients are limited by the pooler, not by
// max_connections.
func (m *Member) budgetFromServer(ctx context.Context, pc pool.Config) (string, error) {
	if pc.PgBouncer {
		return "", fmt.Errorf("%w: Budget is required behind a transaction pooler (pgbouncer=true): set it to the connections the pooler gives the fleet", ErrInvalidConfig)
	}
	b, err := m.st.serverBudget(ctx)
	if err != nil {
		return "", err
	}
	if urlPort := portOf(pc.DatabaseURL); b.serverPort != 0 && urlPort != 0 && b.serverPort != urlPort {
		return "", fmt.Errorf("%w: Budget is required behind a pooler: the URL's port is %d but the server's is %d, so something (PgBouncer, Supavisor, a proxy) stands in between; set Budget to the connections it gives the fleet",
			ErrInvalidConfig, urlPort, b.serverPort)
	}
	n, what := b.budget()
	if n < 2 {
		return "", fmt.Errorf("%w: the server allows this role %d connection(s) (%s): too few to share", ErrInvalidConfig, n, what)
	}
	m.cfg.Budget = n
	return "server: " + what, nil
}

// portOf is the port a connection string names (5432 when it names
// none), 0 when it cannot be read.
func portOf(conn string) int {
	cc, err := pgx.ParseConfig(conn)
	if err != nil {
		return 0
	}
	if _, p, err := net.SplitHostPort(net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))); err == nil {
		n, _ := strconv.Atoi(p)
		return n
	}
	return 0
}

func (m *Member) loop() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.Period / samplesPerPeriod)
	defer t.Stop()
	n := 0 // samples since the last heartbeat
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.sample()
		// Every Period; every other sample while the share is below the
		// target, waiting for the room another instance is about to leave,
		// so that a connection handed over is not left unused for a Period.
		n++
		if n < samplesPerPeriod && (m.share >= m.target || n < 2) {
			continue
		}
		n = 0
		// A slow heartbeat (a loaded server, every connection busy) may
		// take longer than a Period: the ticks it overlaps are skipped.
		ctx, cancel := context.WithTimeout(m.ctx, max(m.cfg.Period, m.cfg.TTL/2))
		if err := m.heartbeat(ctx); err != nil && m.ctx.Err() == nil {
			m.failed(err)
		}
		cancel()
	}
}

// sample adds the pool's in-flight and queued calls to this period's
// demand.
func (m *Member) sample() {
	e := m.p.Stats().Executor
	m.sampleSum += float64(min(e.InFlight+e.QueueLength, m.maxConns))
	m.samples++
}

// takeDemand smooths the mean demand since the last heartbeat into the
// running one (half each) and starts again.
func (m *Member) takeDemand() float64 {
	if m.samples > 0 {
		mean := m.sampleSum / float64(m.samples)
		if m.stats.Heartbeats == 0 {
			m.demand = mean
		} else {
			m.demand = (m.demand + mean) / 2
		}
	}
	m.sampleSum, m.samples = 0, 0
	return m.demand
}

// heartbeat is one period's work: fall back when the last success is a
// TTL old, write this row and read the others, allocate, step, apply.
func (m *Member) heartbeat(ctx context.Context) error {
	start := time.Now()
	m.fallbackIfStale(start)
	demand := m.takeDemand()
	live, now, err := m.st.beat(ctx, Instance{ID: m.cfg.ID, Demand: demand, MaxConns: m.maxConns, Share: m.share}, m.target, m.capacity, m.cfg.TTL)
	if err != nil {
		return err
	}
	epoch := int64(0)
	if m.cfg.Rotate > 0 {
		epoch = now.UnixNano() / int64(m.cfg.Rotate)
	}
	targets := Allocate(m.capacity, epoch, live)
	next := Step(m.capacity, m.cfg.ID, m.share, targets, live)
	m.target = targets[m.cfg.ID]
	changed := next != m.share
	if changed {
		if err := m.p.SetCeiling(next); err != nil {
			return fmt.Errorf("set ceiling %d: %w", next, err)
		}
		m.log.Debug("tollgate: fleet share changed", "from", m.share, "to", next, "target", targets[m.cfg.ID], "instances", len(live))
		m.share = next
		// Let the others see the room at once; a failure here is mended by
		// the next heartbeat, which writes the share too.
		_ = m.st.publish(ctx, m.cfg.ID, next, m.target)
	}
	if m.failing {
		m.log.Info("tollgate: fleet heartbeats work again", "failed", m.failStreak)
	}
	m.failing, m.failStreak, m.lastOK = false, 0, start
	var fleetDemand float64
	allocated := 0
	for _, r := range live {
		fleetDemand += r.Demand
		if r.ID == m.cfg.ID {
			allocated += m.share
		} else {
			allocated += r.Share
		}
	}
	m.mu.Lock()
	s := &m.stats
	s.Share, s.Target, s.Instances, s.Allocated = m.share, targets[m.cfg.ID], len(live), allocated
	s.Demand, s.FleetDemand = demand, fleetDemand
	s.Oversubscribed = len(live) > m.capacity
	s.Fallback = false
	s.LastHeartbeat = start
	s.HeartbeatTook = time.Since(start)
	s.Heartbeats++
	m.mu.Unlock()
	return nil
}

// fallbackIfStale lowers the share to SafeShare when the last successful
// heartbeat started a TTL ago (less half a Period, for the heartbeat that
// is about to run): by then the others no longer count this instance.
func (m *Member) fallbackIfStale(now time.Time) {
	if m.lastOK.IsZero() || now.Sub(m.lastOK) < m.cfg.TTL-m.cfg.Period/2 {
		return
	}
	if safe := min(m.share, m.cfg.SafeShare); safe != m.share {
		if err := m.p.SetCeiling(safe); err != nil {
			return
		}
		m.log.Info("tollgate: fleet heartbeats failed for the TTL: falling back to the safe share", "from", m.share, "to", safe, "since", m.lastOK)
		m.share = safe
	}
	m.mu.Lock()
	m.stats.Share, m.stats.Fallback = m.share, true
	m.mu.Unlock()
}

func (m *Member) failed(err error) {
	m.failStreak++
	if !m.failing {
		m.log.Warn("tollgate: fleet heartbeat failed; keeping the share until the TTL", "share", m.share, "err", err)
	}
	m.failing = true
	m.fallbackIfStale(time.Now())
	m.mu.Lock()
	m.stats.Failures++
	m.stats.LastError = err.Error()
	m.mu.Unlock()
}

// Close stops the heartbeats, lowers the pool's ceiling to SafeShare
// (the fleet no longer counts this instance) and deletes the row, so that
// the others take its share at their next heartbeat. ctx bounds the
// delete; when it fails the row expires after TTL instead. Close is
// idempotent; the goroutine has ended when it returns.
func (m *Member) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.cancel()
		<-m.done
		if safe := min(m.share, m.cfg.SafeShare); safe != m.share {
			if err := m.p.SetCeiling(safe); err == nil {
				m.share = safe
			}
		}
		err := m.st.leave(ctx, m.cfg.ID)
		if err != nil {
			err = fmt.Errorf("fleet: leave %s: %w", m.cfg.Name, err)
		}
		m.closeErr = err
		m.mu.Lock()
		m.stats.Closed, m.stats.Share = true, m.share
		m.mu.Unlock()
		m.log.Info("tollgate: left the fleet", "err", err)
	})
	return m.closeErr
}
