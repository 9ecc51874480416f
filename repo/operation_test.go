package repo_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// opTracer records the operation names the executor receives.
type opTracer struct {
	mu  sync.Mutex
	ops []string
}

func (o *opTracer) CallStart(ctx context.Context, ev pool.CallStartEvent) context.Context {
	o.mu.Lock()
	o.ops = append(o.ops, ev.Operation+" "+ev.Collection)
	o.mu.Unlock()
	return ctx
}

func (o *opTracer) CallEnd(context.Context, pool.CallEndEvent) {}

func (o *opTracer) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.ops
	o.ops = nil
	return s
}

// TestCallsAreNamed: every call names its statement and table for
// telemetry (pool.Operation).
func TestCallsAreNamed(t *testing.T) {
	tr := &opTracer{}
	p := sqlitePool(t, pool.Config{Tracer: tr})
	migrate(t, p, &Writer{}, &Post{}, &Tag{})
	t.Cleanup(func() { p.Gorm().Migrator().DropTable("post_tags") })
	ctx := context.Background()
	posts := repo.New[Post](p)
	tr.take()
	post := Post{Title: "a"}
	posts.Create(ctx, &post)
	posts.Find(ctx, repo.All())
	posts.Count(ctx, repo.All())
	posts.UpdateFields(ctx, post.ID, map[string]any{"title": "b"})
	posts.Upsert(ctx, []Post{post}, []string{"id"})
	posts.Delete(ctx, post.ID)
	repo.CountBy[int64](ctx, posts, "writer_id", repo.All())
	tags := posts.Links("Tags")
	tags.Add(ctx, 1, 1)
	tags.Count(ctx, 1)
	tags.Replace(ctx, 1, 2)
	tags.Remove(ctx, 1, 2)
	want := []string{"INSERT posts", "SELECT posts", "SELECT posts", "UPDATE posts", "INSERT posts", "DELETE posts", "SELECT posts",
		"INSERT post_tags", "SELECT post_tags", "UPDATE post_tags", "DELETE post_tags"}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Fatalf("operations\n got %q\nwant %q", got, want)
	}
}
