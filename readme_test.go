package tollgate_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// User is the README's model.
type User struct {
	ID        int64
	Email     string
	CreatedAt time.Time
}

// readmeUsage is the README's Usage code, compiled: TestREADMEUsage fails
// when the two differ, so that the README's code always compiles.
func readmeUsage(ctx context.Context) error {
	// README:begin
	p, err := pool.Open(ctx, pool.Config{DatabaseURL: os.Getenv("DATABASE_URL")})
	if err != nil {
		return err
	}
	defer p.Close(ctx)

	users := repo.New[User](p)
	u, err := users.Get(ctx, 42)
	if errors.Is(err, repo.ErrNotFound) {
		slog.Info("no user 42")
	} else if err != nil {
		return err
	} else {
		slog.Info("user 42", "email", u.Email)
	}
	list, err := users.Find(ctx, repo.Where("email", repo.Eq, "a@b.c").OrderBy("created_at", repo.Desc).Limit(20))
	if err != nil {
		return err
	}
	slog.Info("found", "users", len(list))

	err = p.Transaction(ctx, func(ctx context.Context) error {
		return users.Create(ctx, &User{Email: "x@y.z"}) // joins the transaction, takes no second slot
	})
	if err != nil {
		return err
	}

	// The health report, with its cleanup action, on a private admin
	// listener (loopback here), never on the public mux.
	hc, err := health.NewChecker(p, health.Config{Token: os.Getenv("HEALTH_TOKEN")}) // 30 s memoized check
	if err != nil {
		return err // a HEALTH_TOKEN under 16 bytes
	}
	defer hc.Close()
	admin := http.NewServeMux()
	admin.Handle("/api/health/database", hc.Handler())
	adminSrv := &http.Server{Addr: "127.0.0.1:9090", Handler: admin, ReadHeaderTimeout: 5 * time.Second}
	go adminSrv.ListenAndServe()
	defer adminSrv.Close()
	// README:end
	return nil
}

var _ = readmeUsage

// TestREADMEUsage: the Go block under "## Usage" in README.md is the body
// of readmeUsage, one tab less.
func TestREADMEUsage(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, usage, ok := strings.Cut(string(readme), "\n## Usage\n")
	if !ok {
		t.Fatal("README.md has no ## Usage section")
	}
	_, block, ok := strings.Cut(usage, "```go\n")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		t.Fatal("the Usage section has no ```go block")
	}
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(src), "\t// README:begin\n")
	body, _, _ = strings.Cut(body, "\t// README:end\n")
	var want strings.Builder
	for _, line := range strings.SplitAfter(body, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if block != want.String() {
		t.Errorf("README.md's Usage code differs from readmeUsage in readme_test.go (which compiles): copy it over.\nREADME:\n%s\nreadme_test.go:\n%s", block, want.String())
	}
}
