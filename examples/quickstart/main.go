// Command quickstart shows tollgate's main job: one throttled pool, typed
// repositories on it, and a burst of concurrent users that stays inside
// the connection budget. It runs with no setup on an embedded SQLite file
// in a temporary directory, or on PostgreSQL when DATABASE_URL is set.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/tollgate-db/tollgate/internal/dotenv"
	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// Note is the example's model.
type Note struct {
	ID        int64
	Author    string `gorm:"index;not null"`
	Title     string `gorm:"not null"`
	Stars     int
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (Note) TableName() string { return "qs_notes" }

// schema holds the versioned migrations, one directory per dialect.
//
//go:embed schema
var schema embed.FS

func migrator(p *pool.Pool) (*migrations.Migrator, error) {
	return migrations.New(p, migrations.Config{
		FS:     schema,
		Dir:    "schema/" + p.Gorm().Dialector.Name(), // postgres or sqlite
		Table:  "qs_schema_migrations",
		Logger: slog.New(slog.DiscardHandler),
	})
}

// createSchema applies the migrations. Many instances may start at once:
// the migrator's lock lets one apply them while the others wait, and they
// all find the schema up to date.
func createSchema(ctx context.Context, p *pool.Pool) error {
	m, err := migrator(p)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}

// dropSchema rolls the migrations back, so that a run on a shared
// PostgreSQL database leaves nothing behind.
func dropSchema(ctx context.Context, p *pool.Pool) error {
	m, err := migrator(p)
	if err != nil {
		return err
	}
	defer m.Close()
	for {
		v, err := m.Version(ctx)
		if err != nil || v == 0 {
			return err
		}
		if _, err := m.Down(ctx); err != nil {
			return err
		}
	}
}

func main() {
	// A copy of the repository's .env.example, when there is one; the
	// process's own variables win over it.
	if set, err := dotenv.Load(".env"); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	} else if len(set) > 0 {
		fmt.Printf("read .env: %s\n", strings.Join(set, ", "))
	}
	verbose := flag.Bool("v", false, "log at Debug: every SQL statement in the development profile (same as LOG_LEVEL=debug)")
	flag.Parse()
	level, err := logLevel(*verbose, os.Getenv("LOG_LEVEL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// logLevel is Warn unless asked: -v or LOG_LEVEL=debug for Debug, which in
// the development profile (APP_ENV unset or development) shows every SQL
// statement the pool runs, with placeholders instead of values.
func logLevel(verbose bool, env string) (slog.Level, error) {
	if verbose {
		return slog.LevelDebug, nil
	}
	if env == "" {
		return slog.LevelWarn, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(env)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", env)
	}
	return l, nil
}

// run is the whole demonstration; log receives the pool's events and its
// SQL statements.
func run(ctx context.Context, out io.Writer, log *slog.Logger) error {
	p, cleanup, err := open(ctx, out, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := createSchema(ctx, p); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	notes := repo.New[Note](p)
	if err := notes.Err(); err != nil {
		return err
	}

	// CRUD.
	n := Note{Author: "ada", Title: "first note", Stars: 1}
	if err := notes.Create(ctx, &n); err != nil {
		return err
	}
	if err := notes.UpdateFields(ctx, n.ID, map[string]any{"stars": 5}); err != nil {
		return err
	}
	got, err := notes.Get(ctx, n.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created and updated note %d: %q by %s, %d stars\n", got.ID, got.Title, got.Author, got.Stars)
	if err := notes.Delete(ctx, n.ID); err != nil {
		return err
	}
	if _, err := notes.Get(ctx, n.ID); errors.Is(err, repo.ErrNotFound) {
		fmt.Fprintf(out, "deleted it: %v\n", err)
	}

	// A sort field from a request is checked, never pasted into SQL.
	_, err = notes.Find(ctx, repo.All().OrderBy("stars; DROP TABLE qs_notes", repo.Desc))
	fmt.Fprintf(out, "hostile sort field refused: %v\n", err)

	// A page walk.
	batch := make([]Note, 23)
	for i := range batch {
		batch[i] = Note{Author: []string{"ada", "bob", "cy"}[i%3], Title: fmt.Sprintf("note %02d", i), Stars: i % 5}
	}
	if err := notes.CreateBatch(ctx, batch, 0); err != nil {
		return err
	}
	q := repo.Where("author", repo.In, []string{"ada", "bob"}).OrderBy("stars", repo.Desc).Limit(5)
	cursor := ""
	for page := 1; ; page++ {
		pg, err := notes.Page(ctx, q, cursor)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "page %d:", page)
		for _, it := range pg.Items {
			fmt.Fprintf(out, " %s(%d★)", it.Title, it.Stars)
		}
		fmt.Fprintln(out)
		if !pg.HasMore {
			break
		}
		cursor = pg.Next
	}

	// A burst: 50 users × 20 operations through one pool.
	const users, ops = 50, 20
	var okOps, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			for i := range ops {
				var err error
				switch i % 4 {
				case 0:
					err = notes.Create(ctx, &Note{Author: fmt.Sprintf("user%d", u), Title: fmt.Sprintf("burst %d", i)})
				case 1:
					_, err = notes.Count(ctx, repo.Where("author", repo.Eq, fmt.Sprintf("user%d", u)))
				case 2:
					_, err = notes.Find(ctx, repo.Where("stars", repo.Ge, 3).OrderBy("id", repo.Desc).Limit(10))
				default:
					_, err = notes.Exists(ctx, repo.Where("title", repo.Like, "burst%"))
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				okOps.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Fprintf(out, "burst: %d users × %d ops in %v: %d ok, %d failed\n",
		users, ops, time.Since(start).Round(time.Millisecond), okOps.Load(), failed.Load())
	printStats(out, p.Stats())
	if failed.Load() > 0 {
		return fmt.Errorf("%d operations failed; last error: %s", failed.Load(), p.Stats().LastError.Message)
	}
	return nil
}

// open opens PostgreSQL when DATABASE_URL is set, else SQLite in a
// temporary directory (SQLite allows one writer: one connection).
func open(ctx context.Context, out io.Writer, logger *slog.Logger) (*pool.Pool, func(), error) {
	if url := os.Getenv("DATABASE_URL"); url != "" {
		p, err := pool.Open(ctx, pool.Config{DatabaseURL: url, Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(out, "database: %s\n", p.Target())
		return p, func() {
			if err := dropSchema(context.Background(), p); err != nil {
				fmt.Fprintln(out, "quickstart: dropping the schema:", err)
			}
			p.Close(context.Background())
		}, nil
	}
	dir, err := os.MkdirTemp("", "tollgate-quickstart")
	if err != nil {
		return nil, nil, err
	}
	file := filepath.Join(dir, "quickstart.db")
	p, err := pool.Open(ctx, pool.Config{
		Dialector:    sqlite.Open(file + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"),
		MaxOpenConns: 1, MaxConcurrent: 1, Logger: logger,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	fmt.Fprintf(out, "database: embedded SQLite at %s (set DATABASE_URL for PostgreSQL)\n", file)
	return p, func() {
		p.Close(context.Background())
		os.RemoveAll(dir)
	}, nil
}

func printStats(out io.Writer, s pool.Stats) {
	e := s.Executor
	fmt.Fprintf(out, "pool stats (profile %s):\n", s.Profile)
	fmt.Fprintf(out, "  connections  open %d / max %d, in use %d, idle %d, utilization %.0f%%\n",
		s.DB.OpenConnections, s.DB.MaxOpenConnections, s.DB.InUse, s.DB.Idle, s.Utilization)
	fmt.Fprintf(out, "  executor     limit %d / max %d, in flight %d, queued %d\n",
		e.Limit, e.MaxConcurrent, e.InFlight, e.QueueLength)
	fmt.Fprintf(out, "  calls        %d ok, %d failed, %d retried, %d rejected, %d timed out\n",
		e.Processed, e.Failed, e.Retried, e.Rejected, e.TimedOut)
	fmt.Fprintf(out, "  queue wait   p50 %v, p99 %v, max %v\n", e.QueueWaitP50, e.QueueWaitP99, e.QueueWaitMax)
	fmt.Fprintf(out, "  database/sql waited %d times (%v): the executor queues instead\n", s.DB.WaitCount, s.DB.WaitDuration)
}
