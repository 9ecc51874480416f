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
	n      int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // the child's stdout, line by line; closed at EOF
	result *rawResult
}

// childArgs are this process's flags, with the child's own appended: the
// flag package keeps the last value of a repeated flag.
func childArgs(c *config, mode, runID string, n int) []string {
	args := append([]string{}, os.Args[1:]...)
	return append(args,
		"-child", "-mode", mode, "-run-id", runID, "-instance", strconv.Itoa(n), "-instances", "1",
		"-limit", strconv.Itoa(c.Limit), "-max-concurrent", strconv.Itoa(c.MaxConcurrent),
		"-baseline-max-open", strconv.Itoa(c.BaselineMaxOpen),
		"-json=false", "-report", "", "-progress", "off", "-fault", faultNone, "-monitor-url", "")
}

// runChildren runs one mode in c.Instances child processes that start at
// the same moment, and merges what they measured.
func runChildren(ctx context.Context, c *config, mode, runID string, ui *progressBar) (*rawResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("instances: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, childStartTimeout+c.Duration+childGrace)
	defer cancel()
	kids := make([]*child, c.Instances)
	defer func() {
		for _, k := range kids {
			if k != nil && k.cmd.Process != nil {
				_ = k.stdin.Close()
				_ = k.cmd.Wait() // bounded: ctx kills the child
			}
		}
	}()
	for i := range kids {
		cmd := exec.CommandContext(ctx, exe, childArgs(c, mode, runID, i)...)
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
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
		k := &child{n: i, cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
		kids[i] = k
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 64<<20)
			for sc.Scan() {
				k.lines <- sc.Text()
			}
			close(k.lines)
		}()
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
	say := func(line string) error {
		for _, k := range kids {
			if _, err := io.WriteString(k.stdin, line+"\n"); err != nil {
				return fmt.Errorf("instance %d: %w", k.n, err)
			}
		}
		return nil
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
	if err := say(lineGo); err != nil {
		ui.stop()
		obs.stop(newRaw(mode))
		return nil, err
	}
	var errs []error
	for _, k := range kids {
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
	if err := say(lineVerify); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for _, k := range kids {
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
		if k.result == nil {
			return nil, fmt.Errorf("instance %d sent no result", k.n)
		}
		merged.merge(k.result)
	}
	return merged, nil
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
	fmt.Fprintln(stdout, lineReady)
	if err := wait(lineGo); err != nil {
		return err
	}
	var cnt counters
	tag := runTag(c.RunID, c.Mode)
	raw, keys := runUsers(ctx, c, t, tag, &cnt)
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
