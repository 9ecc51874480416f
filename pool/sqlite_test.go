package pool_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/pool"
)

func sqlitePool(t *testing.T, path string, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.Dialector = sqlite.Open(path)
	cfg.Profile = pool.Development
	p, err := pool.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// SQLite errors are classified from their result codes: a unique
// violation is a constraint violation, a locked database is transient.
func TestSQLiteErrorsByCode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	p := sqlitePool(t, path+"?_pragma=busy_timeout(0)", pool.Config{MaxOpenConns: 1})
	exec := func(q string) error {
		return p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error { return db.Exec(q).Error })
	}
	if err := exec("create table t (k text primary key)"); err != nil {
		t.Fatal(err)
	}
	if err := exec("insert into t values ('a')"); err != nil {
		t.Fatal(err)
	}
	err := exec("insert into t values ('a')")
	if err == nil || pool.Classify(err) != pool.Constraint {
		t.Fatalf("err = %v (class %s), want constraint", err, pool.Classify(err))
	}
	if s := p.Stats(); !s.LastError.At.IsZero() {
		t.Fatalf("a constraint violation was recorded as a failure: %+v", s.LastError)
	}

	// A second pool holds the write lock; the first, without a busy
	// timeout, gets SQLITE_BUSY: nothing ran, so it is retried, and fails
	// again while the lock is held.
	holder := sqlitePool(t, path, pool.Config{MaxOpenConns: 1})
	locked := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- holder.Transaction(context.Background(), func(ctx context.Context) error {
			err := holder.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
				return db.Exec("insert into t values ('b')").Error
			})
			close(locked)
			<-release
			return err
		})
	}()
	<-locked
	runs := 0
	err = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		runs++
		return db.Exec("insert into t values ('c')").Error
	})
	close(release)
	if herr := <-done; herr != nil {
		t.Fatal(herr)
	}
	if pool.Classify(err) != pool.Transient || runs != 3 {
		t.Fatalf("err = %v (class %s) after %d runs, want transient after 3 (Attempts)", err, pool.Classify(err), runs)
	}

	// Once a statement of the attempt completed, a later busy error is not
	// retried: the first statement ran.
	holder2Locked := make(chan struct{})
	release2 := make(chan struct{})
	go func() {
		done <- holder.Transaction(context.Background(), func(ctx context.Context) error {
			err := holder.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
				return db.Exec("insert into t values ('d')").Error
			})
			close(holder2Locked)
			<-release2
			return err
		})
	}()
	<-holder2Locked
	runs = 0
	err = p.Do(context.Background(), func(ctx context.Context, db *gorm.DB) error {
		runs++
		var n int
		if err := db.Raw("select count(*) from t").Scan(&n).Error; err != nil {
			return err
		}
		return db.Exec("insert into t values ('e')").Error
	})
	close(release2)
	if herr := <-done; herr != nil {
		t.Fatal(herr)
	}
	if pool.Classify(err) != pool.Transient || runs != 1 {
		t.Fatalf("err = %v (class %s) after %d runs, want transient after 1", err, pool.Classify(err), runs)
	}
	var se interface{ Code() int }
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, the driver's error is not kept", err)
	}
}
