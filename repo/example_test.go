package repo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/glebarez/sqlite"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

type Book struct {
	ID     int64
	Title  string
	Author string
	Year   int
}

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "repo-example")
	defer os.RemoveAll(dir)
	p, err := pool.Open(ctx, pool.Config{
		Dialector:    sqlite.Open(filepath.Join(dir, "books.db")),
		MaxOpenConns: 1, MaxConcurrent: 1, Logger: quiet,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)
	p.Gorm().AutoMigrate(&Book{})

	books := repo.New[Book](p)
	books.CreateBatch(ctx, []Book{
		{Title: "Dune", Author: "Herbert", Year: 1965},
		{Title: "Neuromancer", Author: "Gibson", Year: 1984},
		{Title: "Hyperion", Author: "Simmons", Year: 1989},
	}, 0)

	list, _ := books.Find(ctx, repo.Where("year", repo.Gt, 1970).OrderBy("Title", repo.Asc))
	for _, b := range list {
		fmt.Println(b.Title, b.Year)
	}

	_, err = books.Find(ctx, repo.All().OrderBy("year; DROP TABLE books", repo.Asc))
	fmt.Println(errors.Is(err, repo.ErrUnknownField), err)

	_, err = books.Get(ctx, 42)
	fmt.Println(errors.Is(err, repo.ErrNotFound), err)
	// Output:
	// Hyperion 1989
	// Neuromancer 1984
	// true repo: find books: unknown field "year; DROP TABLE books" for Book
	// true repo: get books 42: record not found
}

func ExampleRepository_Page() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "repo-example")
	defer os.RemoveAll(dir)
	p, err := pool.Open(ctx, pool.Config{Dialector: sqlite.Open(filepath.Join(dir, "books.db")), MaxOpenConns: 1, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)
	p.Gorm().AutoMigrate(&Book{})
	books := repo.New[Book](p)
	for i := range 5 {
		books.Create(ctx, &Book{Title: fmt.Sprintf("Vol. %d", i+1), Year: 2000 + i%2})
	}

	q := repo.All().OrderBy("year", repo.Desc).Limit(2)
	cursor := ""
	for {
		page, err := books.Page(ctx, q, cursor)
		if err != nil {
			fmt.Println(err)
			return
		}
		var line []string
		for _, b := range page.Items {
			line = append(line, fmt.Sprintf("%s (%d)", b.Title, b.Year))
		}
		fmt.Println(strings.Join(line, ", "))
		if !page.HasMore {
			break
		}
		cursor = page.Next
	}
	// Output:
	// Vol. 4 (2001), Vol. 2 (2001)
	// Vol. 5 (2000), Vol. 3 (2000)
	// Vol. 1 (2000)
}
