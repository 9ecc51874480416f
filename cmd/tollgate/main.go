// Command tollgate is the operator's CLI of the tollgate toolkit.
//
//	tollgate fleet [-database-url URL] [-table T] [-name FLEET]
//
// prints the fleet table: every instance's demand, the share it holds,
// the share the fleet's allocation gives it, and its last heartbeat.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tollgate-db/tollgate/fleet"
	"github.com/tollgate-db/tollgate/internal/redact"
	"github.com/tollgate-db/tollgate/pool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: tollgate <command> [flags]

Commands:
  fleet   print the fleet table: instances, demand, share, last heartbeat

Run 'tollgate <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "fleet":
		return fleetCmd(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func fleetCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tollgate fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL or DSN (any pooler in between is fine)")
	table := fs.String("table", fleet.DefaultTable, "the fleet table")
	name := fs.String("name", "", "show only this fleet")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on connecting and reading")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: tollgate fleet [flags]\n\nPrints every row of the fleet table: each instance's demand, the share it holds, the share\nthe fleet's allocation gives it now, and how long ago it heartbeated (on the database's clock).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tollgate fleet: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *url == "" {
		fmt.Fprintln(stderr, "tollgate fleet: no database: set -database-url or DATABASE_URL")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "tollgate fleet:", redact.Text(err.Error(), redact.Secrets(*url)...))
		return 1
	}
	s, err := pool.ParseURL(*url)
	if err != nil {
		return fail(err)
	}
	cc := s.ConnConfig()
	cc.RuntimeParams["application_name"] = "tollgate_cli"
	db := stdlib.OpenDB(*cc)
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rows, err := fleet.ReadTable(ctx, db, *table)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" {
		fmt.Fprintf(stdout, "no fleet table %s in %s: no instance has joined a fleet there yet\n", *table, s.Redacted)
		return 0
	}
	if err != nil {
		return fail(fmt.Errorf("%s: %w", s.Redacted, err))
	}
	printFleet(stdout, rows, *name)
	return 0
}

// printFleet prints rows grouped by fleet, with the target each live
// instance's last allocation gave it.
func printFleet(w io.Writer, rows []fleet.Row, only string) {
	byFleet := map[string][]fleet.Row{}
	for _, r := range rows {
		if only == "" || r.Fleet == only {
			byFleet[r.Fleet] = append(byFleet[r.Fleet], r)
		}
	}
	if len(byFleet) == 0 {
		fmt.Fprintln(w, "no instances")
		return
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range byFleet {
			if !yield(k) {
				return
			}
		}
	}) {
		rs := byFleet[name]
		capacity, held, nLive := 0, 0, 0
		var demand float64
		for _, r := range rs {
			if r.Live() {
				capacity = max(capacity, r.Capacity)
				held += r.Share
				demand += r.Demand
				nLive++
			}
		}
		fmt.Fprintf(w, "fleet %s: %d live instance(s) of %d rows, capacity %d, shares held %d, demand %.1f\n", name, nLive, len(rs), capacity, held, demand)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  instance\tstate\tdemand\tmax\tshare\ttarget\tlast heartbeat\tjoined")
		for _, r := range rs {
			state, target := "live", fmt.Sprint(r.Target)
			if !r.Live() {
				state, target = "expired", "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%.1f\t%d\t%d\t%s\t%s ago\t%s\n", r.ID, state, r.Demand, r.MaxConns, r.Share, target,
				r.Age.Round(time.Millisecond), r.Joined.UTC().Format("15:04:05"))
		}
		tw.Flush()
	}
}
