package tollgate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
	"gorm.io/gorm"
)

type e2eUser struct {
	ID        int64
	Email     string `gorm:"uniqueIndex:repo_e2e_users_email_key;not null"`
	Name      string
	CreatedAt time.Time
	DeletedAt gorm.DeletedAt
}

func (e2eUser) TableName() string { return "repo_e2e_users" }

type e2eOrder struct {
	ID     int64
	UserID int64
	Total  int
}

func (e2eOrder) TableName() string { return "repo_e2e_orders" }

type e2eAudit struct {
	ID   int64
	What string
}

func (e2eAudit) TableName() string { return "repo_e2e_audits" }

var models = []any{&e2eUser{}, &e2eOrder{}, &e2eAudit{}}

// backend opens a pool on one database.
type backend struct {
	name string
	open func(t *testing.T, cfg pool.Config) *pool.Pool
}

var backends = []backend{
	{"sqlite", func(t *testing.T, cfg pool.Config) *pool.Pool {
		cfg.Dialector = sqlite.Open(filepath.Join(t.TempDir(), "e2e.db") + "?_pragma=busy_timeout(5000)")
		return openPool(t, cfg)
	}},
	{"postgres", func(t *testing.T, cfg pool.Config) *pool.Pool {
		cfg.DatabaseURL = testdb.Postgres(t)
		return openPool(t, cfg)
	}},
}

func openPool(t *testing.T, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := pool.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	m := p.Gorm().Migrator()
	if err := m.DropTable(models...); err != nil {
		t.Fatal(err)
	}
	if err := p.Gorm().AutoMigrate(models...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.DropTable(models...) })
	return p
}

// single is the tightest budget: one connection, one slot.
var single = pool.Config{MaxOpenConns: 1, MaxConcurrent: 1}

func TestEndToEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			p := b.open(t, pool.Config{MaxOpenConns: 2, MaxConcurrent: 2})
			users := repo.New[e2eUser](p)
			ctx := context.Background()

			batch := make([]e2eUser, 25)
			for i := range batch {
				batch[i] = e2eUser{Email: fmt.Sprintf("u%02d@x", i), Name: fmt.Sprintf("user %02d", i)}
			}
			if err := users.CreateBatch(ctx, batch, 10); err != nil {
				t.Fatal(err)
			}
			err := users.Create(ctx, &e2eUser{Email: "u00@x"})
			var ce *repo.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, repo.ErrConflict) || ce.Constraint == "" {
				t.Fatalf("duplicate email: %v", err)
			}
			if err := users.UpdateFields(ctx, batch[3].ID, map[string]any{"name": "renamed"}); err != nil {
				t.Fatal(err)
			}
			if err := users.Delete(ctx, batch[4].ID); err != nil {
				t.Fatal(err)
			}
			got, err := users.Get(ctx, batch[3].ID)
			if err != nil || got.Name != "renamed" {
				t.Fatalf("Get: %v %+v", err, got)
			}
			if _, err := users.Get(ctx, batch[4].ID); !errors.Is(err, repo.ErrNotFound) {
				t.Fatalf("deleted row: %v", err)
			}
			var walked int
			cursor := ""
			for {
				pg, err := users.Page(ctx, repo.Where("email", repo.Like, "u%").OrderBy("name", repo.Desc).Limit(6), cursor)
				if err != nil {
					t.Fatal(err)
				}
				walked += len(pg.Items)
				if !pg.HasMore {
					break
				}
				cursor = pg.Next
			}
			if walked != 24 {
				t.Fatalf("page walk saw %d rows, want 24", walked)
			}
			if st := p.Stats(); st.Executor.InFlight != 0 || st.DB.InUse != 0 {
				t.Fatalf("connections still held: %+v", st)
			}
		})
	}
}

// TestTransactionThreeRepositories: with one slot, a Transaction whose
// function calls three repositories with its ctx completes; on error all
// three writes are rolled back.
func TestTransactionThreeRepositories(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			cfg := single
			cfg.QueueTimeout = 2 * time.Second
			p := b.open(t, cfg)
			users, orders, audits := repo.New[e2eUser](p), repo.New[e2eOrder](p), repo.New[e2eAudit](p)
			ctx := context.Background()
			work := func(email string, fail error) func(ctx context.Context) error {
				return func(ctx context.Context) error {
					u := e2eUser{Email: email}
					if err := users.Create(ctx, &u); err != nil {
						return err
					}
					if err := orders.Create(ctx, &e2eOrder{UserID: u.ID, Total: 10}); err != nil {
						return err
					}
					if err := audits.Create(ctx, &e2eAudit{What: "order for " + email}); err != nil {
						return err
					}
					if n, err := orders.Count(ctx, repo.Where("user_id", repo.Eq, u.ID)); err != nil || n != 1 {
						return fmt.Errorf("the transaction does not see its own order: %d, %v", n, err)
					}
					return fail
				}
			}
			if err := p.Transaction(ctx, work("a@x", nil)); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			if err := p.Transaction(ctx, work("b@x", boom)); !errors.Is(err, boom) {
				t.Fatalf("failing transaction: %v", err)
			}
			for name, count := range map[string]func() (int64, error){
				"users":  func() (int64, error) { return users.Count(ctx, repo.All()) },
				"orders": func() (int64, error) { return orders.Count(ctx, repo.All()) },
				"audits": func() (int64, error) { return audits.Count(ctx, repo.All()) },
			} {
				if n, err := count(); err != nil || n != 1 {
					t.Errorf("%s: %d rows, %v; want 1 (committed) and none from the rolled-back run", name, n, err)
				}
			}
		})
	}
}

// TestCallWithOtherCtxInsideTransaction: a repository call made inside a
// Transaction with a ctx that is not the transaction's does not join it.
// With one slot, held by the transaction, it queues and fails with
// pool.ErrQueueTimeout instead of deadlocking; the transaction itself
// then commits.
func TestCallWithOtherCtxInsideTransaction(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			cfg := single
			cfg.QueueTimeout = 200 * time.Millisecond
			p := b.open(t, cfg)
			users := repo.New[e2eUser](p)
			outer := context.Background()
			var inner error
			start := time.Now()
			err := p.Transaction(outer, func(ctx context.Context) error {
				if err := users.Create(ctx, &e2eUser{Email: "in@x"}); err != nil {
					return err
				}
				_, inner = users.Count(outer, repo.All()) // wrong ctx: queues behind us
				return nil
			})
			if err != nil {
				t.Fatalf("transaction: %v", err)
			}
			if !errors.Is(inner, pool.ErrQueueTimeout) {
				t.Fatalf("call with the outer ctx: %v, want pool.ErrQueueTimeout", inner)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v: the queue timeout did not bound the wait", d)
			}
			if st := p.Stats(); st.Executor.TimedOut != 1 {
				t.Fatalf("TimedOut = %d, want 1", st.Executor.TimedOut)
			}
			if n, err := users.Count(outer, repo.Where("email", repo.Eq, "in@x")); err != nil || n != 1 {
				t.Fatalf("committed rows: %d, %v", n, err)
			}
		})
	}
}
