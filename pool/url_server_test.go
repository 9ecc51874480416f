package pool_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// The server gets the URL's settings as written: options= with encoded
// spaces (once re-encoded as '+', which libpq and pgx do not decode),
// Prisma's schema as a quoted search_path, application_name with a space,
// and none of Prisma's parameters as startup parameters (the server would
// answer FATAL to an unknown one, such as socket_timeout or sslaccept).
func TestURLReachesServerAsWritten(t *testing.T) {
	base, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	raw := "postgres://" + base.User.String() + ":my%20secret@" + base.Host + base.Path +
		"?sslmode=disable&options=-c%20statement_timeout%3D1234&schema=Tenant%20One&application_name=tollgate%20url%20test" +
		"&connection_limit=2&pool_timeout=0&socket_timeout=7&statement_cache_size=0&sslaccept=accept_invalid_certs&connect_timeout=5"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := pool.Open(ctx, pool.Config{DatabaseURL: raw, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	var got struct{ StatementTimeout, SearchPath, AppName string }
	err = p.Do(ctx, func(ctx context.Context, db *gorm.DB) error {
		return db.Raw(`SELECT current_setting('statement_timeout') AS statement_timeout,
			current_setting('search_path') AS search_path, current_setting('application_name') AS app_name`).Scan(&got).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.StatementTimeout != "1234ms" || got.SearchPath != `"Tenant One"` || got.AppName != "tollgate url test" {
		t.Fatalf("server settings = %+v, want statement_timeout 1234ms, search_path \"Tenant One\", application_name \"tollgate url test\"", got)
	}
	cfg := p.Config()
	if cfg.MaxOpenConns != 2 || cfg.QueueTimeout != pool.NoQueueTimeout || cfg.OpTimeout != 7*time.Second {
		t.Fatalf("Config = MaxOpenConns %d, QueueTimeout %s, OpTimeout %s; want 2, NoQueueTimeout, 7s", cfg.MaxOpenConns, cfg.QueueTimeout, cfg.OpTimeout)
	}
	if strings.Contains(cfg.DatabaseURL, "secret") {
		t.Fatalf("Config().DatabaseURL keeps the password: %s", cfg.DatabaseURL)
	}
}
