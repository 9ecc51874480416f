package repo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/glebarez/sqlite"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

type Writer struct {
	ID    int64
	Name  string
	Posts []Post `gorm:"foreignKey:WriterID"`
}

type Post struct {
	ID       int64
	Title    string
	WriterID int64
	Writer   Writer
	Tags     []Tag `gorm:"many2many:post_tags"`
	Likes    int
}

type Tag struct {
	ID   int64
	Name string `gorm:"uniqueIndex"`
}

// blog opens an SQLite pool in a temporary directory with two writers,
// three posts and two tags; done closes and removes it.
func blog() (p *pool.Pool, done func()) {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "repo-example")
	p, err := pool.Open(ctx, pool.Config{Dialector: sqlite.Open(filepath.Join(dir, "blog.db")), MaxOpenConns: 1, Logger: quiet})
	if err != nil {
		panic(err)
	}
	p.Gorm().AutoMigrate(&Writer{}, &Post{}, &Tag{})
	writers, posts, tags := repo.New[Writer](p), repo.New[Post](p), repo.New[Tag](p)
	ada, bob := Writer{Name: "ada"}, Writer{Name: "bob"}
	writers.Create(ctx, &ada)
	writers.Create(ctx, &bob)
	tags.CreateBatch(ctx, []Tag{{Name: "go"}, {Name: "sql"}}, 0)
	posts.CreateBatch(ctx, []Post{
		{Title: "Generics", WriterID: ada.ID, Likes: 3},
		{Title: "Indexes", WriterID: ada.ID, Likes: 5},
		{Title: "Joins", WriterID: bob.ID, Likes: 1},
	}, 0)
	links := posts.Links("Tags")
	links.Add(ctx, 1, 1)    // Generics: go
	links.Add(ctx, 2, 1, 2) // Indexes: go, sql
	links.Add(ctx, 3, 2)    // Joins: sql
	return p, func() { p.Close(ctx); os.RemoveAll(dir) }
}

func ExampleQuery_Preload() {
	p, done := blog()
	defer done()
	posts := repo.New[Post](p)
	list, err := posts.Find(context.Background(), repo.All().
		Preload("Writer").
		PreloadWith("Tags", repo.All().OrderBy("name", repo.Desc)).
		OrderBy("title", repo.Asc))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, post := range list {
		var tags []string
		for _, t := range post.Tags {
			tags = append(tags, t.Name)
		}
		fmt.Println(post.Title, "by", post.Writer.Name, tags)
	}
	// Output:
	// Generics by ada [go]
	// Indexes by ada [sql go]
	// Joins by bob [sql]
}

func ExampleHas() {
	p, done := blog()
	defer done()
	posts := repo.New[Post](p)
	ctx := context.Background()

	// A filter through a belongs-to relation (a JOIN), and one over a
	// many2many relation (an EXISTS), both checked against the schema.
	q := repo.Where("Writer.Name", repo.Eq, "ada").
		Match(repo.Has("Tags", repo.Where("name", repo.Eq, "sql")))
	list, _ := posts.Find(ctx, q)
	for _, post := range list {
		fmt.Println(post.Title)
	}

	_, err := posts.Find(ctx, repo.Where("Writer.Name; DROP TABLE posts", repo.Eq, "ada"))
	fmt.Println(err)
	// Output:
	// Indexes
	// repo: find posts: unknown field "Writer.Name; DROP TABLE posts" for Post
}

func ExampleRepository_Links() {
	p, done := blog()
	defer done()
	posts := repo.New[Post](p)
	ctx := context.Background()

	tags := posts.Links("Tags")
	if err := tags.Add(ctx, 3, 1, 2); err != nil { // tags 1 and 2 on post 3; 2 was there
		fmt.Println(err)
		return
	}
	n, _ := tags.Count(ctx, 3)
	fmt.Println("post 3 has", n, "tags")
	counts, _ := tags.Counts(ctx, 1, 2, 3)
	fmt.Println("tags per post:", counts)
	linked, _ := tags.Linked(ctx, 1, 1, 2)
	fmt.Println("post 1 tagged go, sql:", linked)
	// Output:
	// post 3 has 2 tags
	// tags per post: [1 2 2]
	// post 1 tagged go, sql: [true false]
}

func ExampleCountBy() {
	p, done := blog()
	defer done()
	posts := repo.New[Post](p)
	perWriter, err := repo.CountBy[string](context.Background(), posts, "Writer.Name", repo.Where("likes", repo.Ge, 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(perWriter["ada"], perWriter["bob"])
	// Output:
	// 2 1
}

func ExampleOr() {
	p, done := blog()
	defer done()
	posts := repo.New[Post](p)
	q := repo.Or(
		repo.Where("likes", repo.Between, []int{4, 10}),
		repo.Where("title", repo.Like, repo.EscapeLike("Gen")+"%"),
	).OrderBy("id", repo.Asc)
	type title struct{ Title string }
	list, _ := repo.FindAs[title](context.Background(), posts, q)
	fmt.Println(list)
	// Output:
	// [{Generics} {Indexes}]
}

func ExampleWhere_relation() {
	p, done := blog()
	defer done()
	writers := repo.New[Writer](p)
	ctx := context.Background()
	// A relation is not a field: the error says what to use instead.
	_, err := writers.Find(ctx, repo.Where("Posts", repo.Eq, 1))
	fmt.Println(err)
	list, _ := writers.Find(ctx, repo.Has("Posts", repo.Where("likes", repo.Gt, 4)))
	fmt.Println(len(list), list[0].Name)
	// Output:
	// repo: find writers: unknown field "Posts" for Writer (a has_many relation: filter with Has("Posts", ...))
	// 1 ada
}
