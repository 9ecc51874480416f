package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The parent and its children talk in lines. The child writes "ready" once
// its pool is open, waits for "go", runs, writes "done", waits for
// "verify" (sent when every child is done and faults have stopped), then
// checks its writes and writes its rawResult as one JSON line.
const (
	lineReady  = "ready"
	lineGo     = "go"
	lineDone   = "done"
	lineVerify = "verify"
)

// childStartTimeout bounds how long the parent waits for the children to
// open their pools; childGrace is what a child may take past -duration.
const (
	childStartTimeout = 60 * time.Second
	childGrace        = 2*callTimeout + 30*time.Second
)

type child struct {
	n        int
	start    time.Duration // from the run's start; 0 for the first ones
	killed   bool
	killedAt time.Duration
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan string // the child's stdout, line by line; closed at EOF
	result   *rawResult
}

// childArgs are this process's flags, with the child's own appended: the
// flag package keeps the last value of a repeated flag. A late joiner
// (start > 0) runs for the rest of the run and does not wait for the
// others in the fleet.
func childArgs(c *config, mode, runID string, n int, start time.Duration) []string {
	args := append([]string{}, os.Args[1:]...)
	if c.Busy > 0 && n >= c.Busy {
		args = append(args, "-users", strconv.Itoa(c.IdleUsers))
	}
	expect := c.Instances
	if start > 0 {
		expect = 0
	}
	return append(args,
		"-child", "-mode", mode, "-run-id", runID, "-instance", strconv.Itoa(n), "-instances", "1",
		"-limit", strconv.Itoa(c.Limit), "-max-concurrent", strconv.Itoa(c.MaxConcurrent),
		"-baseline-max-open", strconv.Itoa(c.BaselineMaxOpen),
		"-json=false", "-report", "", "-progress", "off", "-fault", faultNone, "-monitor-url", "",
		"-join", "0", "-kill", "0", "-fleet-expect", strconv.Itoa(expect),
		"-duration", (c.Duration - start).String(), "-start-offset", start.String(), "-sqlite", c.SQLitePath)
}

// runChildren runs one mode in c.Instances child processes that start at
// the same moment (and c.Join more that start c.JoinAfter later; c.Kill of
// them SIGKILLed at c.KillAfter), and merges what they measured.
func runChildren(ctx context.Context, c *config, mode, runID string, ui *progressBar) (*rawResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*childStartTimeout+c.Duration+childGrace)
	defer cancel()
	var kids []*child
	defer func() {
		for _, k := range kids {
			if k != nil && k.cmd.Process != nil {
				_ = k.stdin.Close()
				_ = k.cmd.Wait() // bounded: ctx kills the child
			}
		}
	}()
	spawn := func(n int, start time.Duration) (*child, error) {
		cmd := exec.CommandContext(ctx, exe, childArgs(c, mode, runID, n, start)...)
		cmd.Stderr = os.Stderr
		cmd.WaitDelay = 5 * time.Second
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("instance %d: %w", n, err)
		}
		k := &child{n: n, cmd: cmd, stdin: stdin, lines: make(chan string, 4), start: start}
		kids = append(kids, k)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 64<<20)
			for sc.Scan() {
				k.lines <- sc.Text()
			}
			close(k.lines)
		}()
		return k, nil
	}
	expect := func(k *child, want string, within time.Duration) (string, error) {
		timer := time.NewTimer(within)
		defer timer.Stop()
		select {
		case l, ok := <-k.lines:
			if !ok {
				return "", fmt.Errorf("instance %d exited before %q (see its stderr above)", k.n, want)
			}
			if want != "" && l != want {
				return "", fmt.Errorf("instance %d said %q, want %q", k.n, l, want)
			}
			return l, nil
		case <-timer.C:
			return "", fmt.Errorf("instance %d: no %q within %s", k.n, want, within)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	say := func(line string, to []*child) error {
		for _, k := range to {
			if k.killed {
				continue
			}
			if _, err := io.WriteString(k.stdin, line+"\n"); err != nil {
				return fmt.Errorf("instance %d: %w", k.n, err)
			}
		}
		return nil
	}
	for i := range c.Instances {
		if _, err := spawn(i, 0); err != nil {
			return nil, err
		}
	}
	for _, k := range kids {
		if _, err := expect(k, lineReady, childStartTimeout); err != nil {
			return nil, err
		}
	}
	obs, err := startObserver(ctx, c, appName(runID, mode))
	if err != nil {
		return nil, err
	}
	ui.start(mode, c, nil)
	begin := time.Now()
	if err := say(lineGo, kids); err != nil {
		ui.stop()
		obs.stop(newRaw(mode))
		return nil, err
	}
	if err := runEvents(ctx, c, begin, spawn, expect, say, &kids); err != nil {
		ui.stop()
		obs.stop(newRaw(mode))
		return nil, err
	}
	var errs []error
	for _, k := range kids {
		if k.killed {
			continue
		}
		if _, err := expect(k, lineDone, c.Duration+childGrace); err != nil {
			errs = append(errs, err)
		}
	}
	ui.stop()
	merged := newRaw(mode)
	merged.Instances = 0
	obs.stop(merged)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := say(lineVerify, kids); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for _, k := range kids {
		if k.killed {
			continue
		}
		wg.Go(func() {
			l, err := expect(k, "", childGrace)
			if err != nil {
				return
			}
			var r rawResult
			if json.Unmarshal([]byte(l), &r) == nil {
				k.result = &r
			}
		})
	}
	wg.Wait()
	for _, k := range kids {
		run := instanceRun{n: k.n, start: k.start, killed: k.killed, killedAt: k.killedAt, res: k.result}
		merged.perInstance = append(merged.perInstance, run)
		if k.killed {
			continue
		}
		if k.result == nil {
			return nil, fmt.Errorf("instance %d sent no result", k.n)
		}
		merged.merge(k.result)
	}
	return merged, nil
}

// runEvents starts the late joiners and kills instances at their times,
// in order, while the run goes on.
func runEvents(ctx context.Context, c *config, begin time.Time,
	spawn func(int, time.Duration) (*child, error),
	expect func(*child, string, time.Duration) (string, error),
	say func(string, []*child) error, kids *[]*child) error {
	type event struct {
		at   time.Duration
		join bool
	}
	var evs []event
	if c.Join > 0 {
		evs = append(evs, event{c.JoinAfter, true})
	}
	if c.Kill > 0 {
		evs = append(evs, event{c.KillAfter, false})
	}
	if len(evs) == 2 && evs[1].at < evs[0].at {
		evs[0], evs[1] = evs[1], evs[0]
	}
	for _, ev := range evs {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(begin.Add(ev.at))):
		}
		if !ev.join {
			killed := 0
			for _, k := range *kids {
				if killed == c.Kill {
					break
				}
				if !k.killed && k.start == 0 {
					_ = k.cmd.Process.Signal(syscall.SIGKILL)
					k.killed, k.killedAt = true, time.Since(begin)
					killed++
				}
			}
			fmt.Fprintf(os.Stderr, "loadtest: SIGKILLed %d instance(s) at %s\n", killed, time.Since(begin).Round(time.Millisecond))
			continue
		}
		var late []*child
		base := len(*kids)
		for i := range c.Join {
			k, err := spawn(base+i, ev.at)
			if err != nil {
				return err
			}
			late = append(late, k)
		}
		for _, k := range late {
			if _, err := expect(k, lineReady, childStartTimeout); err != nil {
				return err
			}
		}
		// Their clocks start at their go, which the report places them at.
		if err := say(lineGo, late); err != nil {
			return err
		}
		for _, k := range late {
			k.start = time.Since(begin)
		}
		fmt.Fprintf(os.Stderr, "loadtest: %d instance(s) joined at %s (asked for %s)\n", len(late), time.Since(begin).Round(time.Millisecond), ev.at)
	}
	return nil
}

// childMain is the child's side of the protocol.
func childMain(ctx context.Context, c *config, stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewScanner(stdin)
	wait := func(want string) error {
		if !in.Scan() {
			return fmt.Errorf("child %d: parent went away before %q", c.Instance, want)
		}
		if l := strings.TrimSpace(in.Text()); l != want {
			return fmt.Errorf("child %d: got %q, want %q", c.Instance, l, want)
		}
		return nil
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t, err := openTarget(openCtx, c, c.Mode, c.RunID)
	cancel()
	if err != nil {
		return err
	}
	defer t.close()
	joinCtx, cancel := context.WithTimeout(ctx, 40*time.Second)
	m, err := joinFleet(joinCtx, c, t)
	cancel()
	if err != nil {
		return fmt.Errorf("child %d: %w", c.Instance, err)
	}
	if m != nil {
		defer m.Close(context.Background())
	}
	fmt.Fprintln(stdout, lineReady)
	if err := wait(lineGo); err != nil {
		return err
	}
	var cnt counters
	tag := runTag(c.RunID, c.Mode)
	var series rawResult
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go sampleInstance(t, m, &series, stopSampling, sampled)
	raw, keys := runUsers(ctx, c, t, tag, &cnt)
	close(stopSampling)
	<-sampled
	raw.Instance, raw.StartOffset = c.Instance, c.StartOffset
	raw.LimitTimeline, raw.ShareTimeline, raw.ExhTimeline = series.LimitTimeline, series.ShareTimeline, series.ExhTimeline
	raw.FleetBudget, raw.FleetReserve = series.FleetBudget, series.FleetReserve
	fmt.Fprintln(stdout, lineDone)
	if err := wait(lineVerify); err != nil {
		return err
	}
	finish(ctx, c, t, tag, raw, keys)
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
