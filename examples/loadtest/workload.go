package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/pool"
)

// callTimeout bounds one operation of either mode, so that nothing waits
// forever whatever the database does.
const callTimeout = 30 * time.Second

// counters are read by the progress bar while users run.
type counters struct {
	ops, errs atomic.Int64
}

// tally is one user's own record: no locks while the run goes on.
type tally struct {
	rawResult   // one user's share, merged into the mode's result
	acked       []int64
	unknownKeys []int64
	failedKeys  []int64
}

func (t *tally) bump(series *[]int64, i int) {
	if i >= len(*series) {
		*series = append(*series, make([]int64, i+1-len(*series))...)
	}
	(*series)[i]++
}

type row struct {
	ID      int64
	K       int64
	Payload string
}

// runUsers drives c.Users users against t until the deadline or the
// operation budget, whichever comes first, and returns what they saw.
func runUsers(ctx context.Context, c *config, t *target, runTag string, cnt *counters) (*rawResult, *writeKeys) {
	st := sqlFor(c, t.dialect)
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(c.Duration)
	var budget atomic.Int64
	tallies := make([]tally, c.Users)
	var wg sync.WaitGroup
	for u := range c.Users {
		wg.Go(func() {
			ta := &tallies[u]
			ta.rawResult = *newRaw(t.mode)
			ta.Instances = 0 // a user, not an instance
			rng := rand.New(rand.NewPCG(c.Seed, uint64(c.Instance)<<32|uint64(u)))
			var seq int64
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if c.Ops > 0 && budget.Add(1) > c.Ops {
					return
				}
				write := c.Workload == workloadWrite || (c.Workload == workloadMix && rng.IntN(100) < c.WriteMix)
				var op func(context.Context, *gorm.DB) error
				var pop func(context.Context, *pgxpool.Pool) error
				var key int64
				if write {
					// A client-made key, unique within the run: instance, user, sequence.
					seq++
					key = int64(c.Instance)<<48 | int64(u)<<32 | seq
					payload := fmt.Sprintf("u%d-%d", u, seq)
					op = func(ctx context.Context, db *gorm.DB) error {
						return db.Exec(st.write, key, runTag, u, payload).Error
					}
					pop = func(ctx context.Context, p *pgxpool.Pool) error {
						_, err := p.Exec(ctx, st.pgxWrite, key, runTag, u, payload)
						return err
					}
				} else {
					k := 1 + rng.Int64N(seedRows)
					op = func(ctx context.Context, db *gorm.DB) error {
						var r row
						if st.sleep {
							return db.Raw(st.read, c.QueryMS/1000, k).Scan(&r).Error
						}
						return db.Raw(st.read, k).Scan(&r).Error
					}
					pop = func(ctx context.Context, p *pgxpool.Pool) error {
						var r row
						if st.sleep {
							return p.QueryRow(ctx, st.pgxRead, c.QueryMS/1000, k).Scan(&r.ID, &r.K, &r.Payload)
						}
						return p.QueryRow(ctx, st.pgxRead, k).Scan(&r.ID, &r.K, &r.Payload)
					}
				}
				opCtx, cancel := context.WithTimeout(ctx, callTimeout)
				t0 := time.Now()
				// Reads are idempotent; writes are not: a write whose
				// connection was lost must not be re-run blindly.
				wait, measured, err := t.exec(opCtx, op, pop, !write)
				lat := time.Since(t0)
				cancel()
				bucket := int(t0.Sub(start) / bucketWidth)
				ta.Ops++
				ta.bump(&ta.OpsTimeline, bucket)
				cnt.ops.Add(1)
				if measured {
					ta.QueueWait.Record(wait)
				}
				if write {
					ta.Writes++
				} else {
					ta.Reads++
				}
				if err == nil {
					ta.OK++
					ta.Latency.Record(lat)
					if write {
						ta.acked = append(ta.acked, key)
					}
					continue
				}
				cnt.errs.Add(1)
				class := pool.Classify(err).String()
				ta.Errors[class]++
				if _, ok := ta.ErrorSamples[class]; !ok {
					ta.ErrorSamples[class] = scrubErr(c, err).Error()
				}
				ta.bump(&ta.ErrTimeline, bucket)
				if write {
					if outcomeUnknown(err) {
						ta.unknownKeys = append(ta.unknownKeys, key)
					} else {
						ta.failedKeys = append(ta.failedKeys, key)
					}
				}
			}
		})
	}
	wg.Wait()
	r := newRaw(t.mode)
	r.Elapsed = time.Since(start)
	r.CPU = processCPU() - cpu0
	var acked, unknown, failed []int64
	for i := range tallies {
		ta := &tallies[i]
		r.merge(&ta.rawResult)
		acked = append(acked, ta.acked...)
		unknown = append(unknown, ta.unknownKeys...)
		failed = append(failed, ta.failedKeys...)
	}
	r.WriteOut = writeTally{Acknowledged: int64(len(acked)), Unknown: int64(len(unknown)), Failed: int64(len(failed))}
	return r, &writeKeys{acked: acked, unknown: unknown, failed: failed}
}

// writeKeys are the keys of the run's writes, by outcome.
type writeKeys struct{ acked, unknown, failed []int64 }

// outcomeUnknown reports whether a write may or may not have happened: the
// connection broke after it may have been sent, or during COMMIT.
func outcomeUnknown(err error) bool {
	switch pool.Classify(err) {
	case pool.ConnectionLost, pool.Canceled, pool.Timeout: // a deadline may fire after the server ran it
		return true
	}
	return errors.Is(err, pool.ErrCommitUnknown)
}

// verifyWrites reads back the run's rows: every acknowledged key must be
// there exactly once, no key twice, and no key whose write failed.
// It runs after the users, and after any fault injection, have stopped.
func verifyWrites(ctx context.Context, c *config, t *target, runTag string, keys *writeKeys, w *writeTally) {
	st := sqlFor(c, t.dialect)
	acked, unknown, failed := keys.acked, keys.unknown, keys.failed
	type kn struct {
		K int64
		N int64
	}
	var rows []kn
	q := func(ctx context.Context, db *gorm.DB) error { return db.Raw(st.verify, runTag).Scan(&rows).Error }
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for range 20 { // the database may still be coming back after a fault
		rows = rows[:0]
		if err = q(vctx, t.gorm().WithContext(vctx)); err == nil || vctx.Err() != nil {
			break
		}
		select {
		case <-vctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		w.VerifyError = err.Error()
		return
	}
	in := make(map[int64]int64, len(rows))
	for _, r := range rows {
		in[r.K] = r.N
		if r.N > 1 {
			w.Duplicated++
		}
	}
	for _, k := range acked {
		if in[k] == 0 {
			w.Missing++
		}
	}
	for _, k := range unknown {
		if in[k] > 0 {
			w.UnknownIn++
		}
	}
	for _, k := range failed {
		if in[k] > 0 {
			w.Unexpected++
		}
	}
	w.Verified = true
}

// processCPU is the CPU time (user and system) this process has used: the
// users' calls, the pool or driver under them, the runtime and its garbage
// collector, and the monitor's sampling, which every mode pays alike.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
