package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/fleet"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

func TestFleetPrintsTheLiveTable(t *testing.T) {
	base := testdb.Postgres(t)
	name := testdb.CreateDatabase(t, "tollgate_cli")
	url := testdb.WithDatabase(t, base, name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	if code := run(ctx, []string{"fleet", "-database-url", url}, &out, &errs); code != 0 || !strings.Contains(out.String(), "no fleet table") {
		t.Fatalf("before any join: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := pool.Open(ctx, pool.Config{DatabaseURL: url, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	m, err := fleet.Join(ctx, p, fleet.Config{Name: "api", ID: "web-1", Budget: 10, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	out.Reset()
	if code := run(ctx, []string{"fleet", "-database-url", url}, &out, &errs); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs.String())
	}
	for _, want := range []string{"fleet api: 1 live instance(s) of 1 rows, capacity 9", "web-1", "live", " ago"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFleetRedactsTheURL(t *testing.T) {
	var out, errs bytes.Buffer
	url := "postgres://app:hunter2secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"
	code := run(context.Background(), []string{"fleet", "-database-url", url}, &out, &errs)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errs.String())
	}
	if strings.Contains(errs.String(), "hunter2secret") || !strings.Contains(errs.String(), "127.0.0.1:1") {
		t.Fatalf("stderr %q: want the target without the password", errs.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), nil, &out, &errs); code != 2 || !strings.Contains(errs.String(), "fleet") {
		t.Fatalf("no command: exit %d, stderr %q", code, errs.String())
	}
	if code := run(context.Background(), []string{"nope"}, &out, &errs); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}
