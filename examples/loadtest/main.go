// Command loadtest drives concurrent simulated users against PostgreSQL
// (or an embedded SQLite) through tollgate's pool and through plain GORM,
// and compares latency, throughput, errors and server connections. See
// README.md for the flags and the scenarios.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"golang.org/x/term"
)

func main() {
	os.Exit(realMain())
}

func realMain() int {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Child {
		if err := childMain(ctx, &c, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", scrubErr(&c, err))
			return 1
		}
		return 0
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	show := c.Progress == "on" || (c.Progress == "auto" && term.IsTerminal(int(os.Stderr.Fd())))
	rep, err := run(ctx, &c, newProgressBar(os.Stderr, show))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", scrubErr(&c, err))
		return 1
	}
	printTable(os.Stdout, rep)
	printRounds(os.Stdout, rep)
	if c.Report != "" {
		if err := writeHTML(c.Report, rep); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest: report:", err)
			return 1
		}
		fmt.Fprintln(os.Stdout, "report written to", c.Report)
	}
	if c.JSON {
		if err := printJSON(os.Stdout, rep); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			return 1
		}
	}
	return 0
}
