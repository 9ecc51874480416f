package cache_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/cache"
	"github.com/tollgate-db/tollgate/pool"
)

// The load is shared by every caller of its key, so it must not run with
// one caller's context values.
func TestLoadDoesNotSeeCallerValues(t *testing.T) {
	c := cache.New[string](cache.Config{})
	defer c.Close()
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "caller's")
	v, err := c.GetOrLoad(ctx, "k", func(ctx context.Context) (string, error) {
		if x := ctx.Value(key{}); x != nil {
			return "", errors.New("the load sees the caller's value")
		}
		if _, ok := ctx.Deadline(); !ok {
			return "", errors.New("the load has no deadline")
		}
		return "ok", nil
	})
	if err != nil || v != "ok" {
		t.Fatalf("GetOrLoad = %q, %v", v, err)
	}
}

type httpapiCacheRow struct {
	ID int `gorm:"primaryKey"`
}

func (httpapiCacheRow) TableName() string { return "httpapi_cache_rows" }

// A GetOrLoad made inside a transaction must not run its load in that
// transaction: the load would see, and the cache would keep for everyone,
// rows that are never committed.
func TestLoadDoesNotJoinCallerTransaction(t *testing.T) {
	p, err := pool.Open(t.Context(), pool.Config{
		Dialector: sqlite.Open(filepath.Join(t.TempDir(), "cache.db") + "?_pragma=busy_timeout(5000)"),
		Profile:   pool.Development,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	}()
	if err := p.Do(t.Context(), func(ctx context.Context, db *gorm.DB) error {
		return db.AutoMigrate(&httpapiCacheRow{})
	}); err != nil {
		t.Fatal(err)
	}

	c := cache.New[int64](cache.Config{})
	defer c.Close()
	count := func(ctx context.Context) (int64, error) {
		var n int64
		err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			return db.Model(&httpapiCacheRow{}).Count(&n).Error
		})
		return n, err
	}
	rollback := errors.New("roll back")
	var inTx int64
	err = p.Transaction(t.Context(), func(ctx context.Context) error {
		if err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			return db.Create(&httpapiCacheRow{ID: 1}).Error
		}); err != nil {
			return err
		}
		n, err := c.GetOrLoad(ctx, "rows", count)
		if err != nil {
			return err
		}
		inTx = n
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("transaction: %v", err)
	}
	if inTx != 0 {
		t.Fatalf("the load counted %d rows: it ran in the caller's uncommitted transaction", inTx)
	}
	if n, ok := c.Get("rows"); !ok || n != 0 {
		t.Fatalf("cached %d, %v; want 0, true", n, ok)
	}
}
