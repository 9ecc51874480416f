package pool_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// The cost of query logging on a call that logs nothing: GORM's silent
// logger without the statement ctx (what a pool had before) against the
// pool's own, in Production and in Development with Debug off. Interleave
// rounds to compare times on a shared machine:
//
//	for i in 1 2 3 4 5 6; do go test -run '^$' -bench QueryLogOverhead -benchmem ./pool; done
func BenchmarkQueryLogOverhead(b *testing.B) {
	u := testdb.Postgres(b)
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for _, bc := range []struct {
		name string
		cfg  pool.Config
	}{
		// What a call cost before query logging: a silent GORM logger and
		// no statement ctx (LogQueryValues skips it).
		{"before", pool.Config{Profile: pool.Production, LogQueryValues: true, Gorm: &gorm.Config{SkipDefaultTransaction: true, Logger: logger.Discard}}},
		{"production", pool.Config{Profile: pool.Production}},
		{"development-info", pool.Config{Profile: pool.Development}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.cfg.DatabaseURL, bc.cfg.Logger = u, quiet
			p, err := pool.Open(context.Background(), bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			ctx := context.Background()
			var n int
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
					return db.Raw("SELECT ?::int", 7).Scan(&n).Error
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
