package repo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
	"gorm.io/gorm"
)

type benchUser struct {
	ID    int64
	Email string
	Name  string
	Age   int
}

func (benchUser) TableName() string { return "repo_bench_users" }

const benchRows = 1000

func benchPool(b *testing.B) *pool.Pool {
	p := pgPool(b, pool.Config{MaxOpenConns: 2, MaxConcurrent: 2})
	migrate(b, p, &benchUser{})
	us := make([]benchUser, benchRows)
	for i := range us {
		us[i] = benchUser{Email: fmt.Sprintf("b%d@x", i), Name: "bench", Age: i}
	}
	if err := p.Gorm().CreateInBatches(us, 500).Error; err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkGetRepository is Repository.Get through the pool's executor.
func BenchmarkGetRepository(b *testing.B) {
	p := benchPool(b)
	r := repo.New[benchUser](p)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Get(ctx, int64(i%benchRows+1)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetRawGorm is the same read with gorm.G on p.Gorm(), which
// bypasses the executor.
func BenchmarkGetRawGorm(b *testing.B) {
	p := benchPool(b)
	db := p.Gorm()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := gorm.G[benchUser](db).Where("id = ?", int64(i%benchRows+1)).First(ctx); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetRawGormInDo is the raw read inside p.Do: the difference
// to BenchmarkGetRepository is the repository layer alone.
func BenchmarkGetRawGormInDo(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := int64(i%benchRows + 1)
		err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
			_, err := gorm.G[benchUser](db).Where("id = ?", id).First(ctx)
			return err
		}, pool.Idempotent())
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetRawGormDeadline is the raw read with a per-call deadline,
// as the executor's OpTimeout gives every call: it shows what the
// deadline alone costs (pgx watches a cancellable ctx per query).
func BenchmarkGetRawGormDeadline(b *testing.B) {
	p := benchPool(b)
	db := p.Gorm()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		_, err := gorm.G[benchUser](db).Where("id = ?", int64(i%benchRows+1)).First(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
