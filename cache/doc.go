// Package cache is a typed, memoizing cache over github.com/patrickmn/go-cache
// with single-flight loading.
//
// [Cache.GetOrLoad] returns a fresh value when one is cached; otherwise it
// runs the load function once for all the callers asking for the same key at
// the same time (golang.org/x/sync/singleflight) and caches the result for
// Config.TTL. Failures are not cached unless Config.FailureTTL is set, in
// which case they are kept for that (usually shorter) time, so that a
// failing backend is not hit by every caller.
//
// A caller whose ctx ends while a load it is waiting for is still running
// gets ctx's error at once; the load itself goes on for the other callers.
// The load gets a fresh context, context.Background() bounded by
// Config.LoadTimeout, with none of the callers' values: it never runs in a
// caller's transaction, so what it caches is what every caller may see.
// No caller waits for a load longer than Config.LoadTimeout either, even
// one that ignores its ctx: the waiter then gets context.DeadlineExceeded
// and the next caller starts a new load.
//
// A Cache owns one goroutine, the janitor that deletes expired entries;
// [Cache.Close] stops it. go-cache's own janitor cannot be stopped (it ends
// when the cache is garbage collected), so the Cache creates its go-cache
// without one and runs its own.
package cache
