package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/glebarez/sqlite"

	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
)

// In an application the SQL files usually come from an embed.FS:
//
//	//go:embed sql/*.sql
//	var files embed.FS
//	migrations.Config{FS: files, Dir: "sql"}
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tollgate-example")
	defer os.RemoveAll(dir)

	// An embedded SQLite database: no server needed. With PostgreSQL, open
	// the pool from DATABASE_URL and set Config.DirectURL when that URL
	// goes through a transaction pooler.
	p, err := pool.Open(ctx, pool.Config{Dialector: sqlite.Open(filepath.Join(dir, "app.db"))})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	m, err := migrations.New(p, migrations.Config{
		FS: fstest.MapFS{
			"00001_users.sql": {Data: []byte(`-- +goose Up
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
-- +goose Down
DROP TABLE users;
`)},
		},
		GoMigrations: []migrations.Migration{{
			Version: 2,
			Name:    "seed admin",
			Up: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO users (email) VALUES ('admin@example.com')`)
				return err
			},
			Down: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM users WHERE email = 'admin@example.com'`)
				return err
			},
		}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	applied, err := m.Up(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range applied {
		fmt.Println(r.Direction, r.Version, r.Name)
	}
	again, _ := m.Up(ctx) // up to date: a no-op
	v, _ := m.Version(ctx)
	fmt.Println("applied again:", len(again), "version:", v)
	// Output:
	// up 1 00001_users.sql
	// up 2 seed admin
	// applied again: 0 version: 2
}
