package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"golang.org/x/sync/singleflight"
)

// Defaults of Config.
const (
	DefaultTTL             = 30 * time.Second
	DefaultCleanupInterval = time.Minute
	DefaultLoadTimeout     = 10 * time.Second
)

// Config configures a [Cache]. The zero value works: values live 30 s,
// failures are not cached, expired entries are swept every minute.
type Config struct {
	// TTL is how long a value stored by Set or by a successful load stays
	// fresh. Default: 30s.
	TTL time.Duration
	// FailureTTL is how long a failed load is remembered: callers within
	// it get the same error without a new load. Zero or negative means
	// failures are not cached and the next caller loads again. Default: 0.
	FailureTTL time.Duration
	// CleanupInterval is how often the janitor deletes expired entries
	// (an expired entry is never returned, swept or not). Negative turns
	// the janitor off. Default: 1m.
	CleanupInterval time.Duration
	// LoadTimeout bounds one load. A load is shared by every caller of
	// its key, so no single caller's deadline, cancellation or values
	// reach it: it runs under context.Background() with this timeout. It
	// also bounds each caller's wait for a load, so that a load that
	// ignores its ctx cannot hold its key. Default: 10s.
	LoadTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.CleanupInterval == 0 {
		c.CleanupInterval = DefaultCleanupInterval
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = DefaultLoadTimeout
	}
	return c
}

// Stats is a value snapshot of a Cache's counters.
type Stats struct {
	Hits       int64 // lookups answered from the cache, cached failures included
	Misses     int64 // lookups that found nothing fresh
	Loads      int64 // load functions run
	LoadErrors int64 // loads that returned an error (or panicked)
	Shared     int64 // GetOrLoad calls answered by a load that served several callers
	Timeouts   int64 // GetOrLoad calls that gave up on a load after LoadTimeout
	Items      int   // entries held now, expired ones not yet swept included
}

// Entry is what Lookup finds under a key: a value, or a remembered failure.
type Entry[V any] struct {
	Value   V
	Err     error     // non-nil for a cached failure
	Expires time.Time // when the entry stops being fresh
}

// Cache is a typed cache of V keyed by string. It is safe for concurrent
// use. Close it to stop its janitor.
type Cache[V any] struct {
	cfg   Config
	store *gocache.Cache
	group singleflight.Group

	hits, misses, loads, loadErrors, shared, timeouts atomic.Int64

	// mu guards flights: the keys whose loads are running, each with a
	// generation that Delete (and a waiter's timeout) bumps. A load
	// stores its result only if its key's generation has not changed
	// since it started.
	mu      sync.Mutex
	flights map[string]*flight

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// New returns a Cache configured by cfg; zero fields take their defaults.
func New[V any](cfg Config) *Cache[V] {
	cfg = cfg.withDefaults()
	c := &Cache[V]{
		cfg:     cfg,
		store:   gocache.New(cfg.TTL, 0), // 0: no go-cache janitor, see janitor below
		flights: make(map[string]*flight),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if cfg.CleanupInterval > 0 {
		go c.janitor(cfg.CleanupInterval)
	} else {
		close(c.done)
	}
	return c
}

func (c *Cache[V]) janitor(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.store.DeleteExpired()
		case <-c.stop:
			return
		}
	}
}

// Close stops the janitor and waits for it to exit. The cache still
// answers afterwards; expired entries are then simply not swept. Close is
// idempotent.
func (c *Cache[V]) Close() {
	c.closeOnce.Do(func() { close(c.stop) })
	<-c.done
}

// flight is the state of a key whose loads are running.
type flight struct {
	gen     uint64 // bumped when the running loads' results must not be stored
	running int    // loads of the key running now
}

// entry is what go-cache holds.
type entry[V any] struct {
	v   V
	err error
}

// Get returns the fresh value stored under key. A cached failure counts as
// absent.
func (c *Cache[V]) Get(key string) (V, bool) {
	e, ok := c.Lookup(key)
	if !ok || e.Err != nil {
		var zero V
		return zero, false
	}
	return e.Value, true
}

// Lookup returns the fresh entry under key, value or cached failure,
// without loading. It counts as a hit or a miss.
func (c *Cache[V]) Lookup(key string) (Entry[V], bool) {
	x, exp, ok := c.store.GetWithExpiration(key)
	if !ok {
		c.misses.Add(1)
		return Entry[V]{}, false
	}
	c.hits.Add(1)
	e := x.(entry[V])
	return Entry[V]{Value: e.v, Err: e.err, Expires: exp}, true
}

// Set stores v under key for Config.TTL.
func (c *Cache[V]) Set(key string, v V) { c.SetWithTTL(key, v, c.cfg.TTL) }

// SetWithTTL stores v under key for ttl (Config.TTL when ttl <= 0).
func (c *Cache[V]) SetWithTTL(key string, v V, ttl time.Duration) {
	if ttl <= 0 {
		ttl = c.cfg.TTL
	}
	c.store.Set(key, entry[V]{v: v}, ttl)
}

// Delete removes key, value or cached failure. A load of key running now
// does not store its result when it finishes (its waiters still get it),
// and a GetOrLoad of key after Delete does not join it but starts a new
// load: nothing that began before Delete is cached after it.
func (c *Cache[V]) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store.Delete(key)
	c.abandon(key)
}

// abandon makes the running loads of key store nothing and the next
// GetOrLoad of key start a new load. c.mu must be held.
func (c *Cache[V]) abandon(key string) {
	if f := c.flights[key]; f != nil {
		f.gen++
	}
	c.group.Forget(key)
}

// Stats returns the counters.
func (c *Cache[V]) Stats() Stats {
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Loads: c.loads.Load(),
		LoadErrors: c.loadErrors.Load(), Shared: c.shared.Load(), Timeouts: c.timeouts.Load(),
		Items: c.store.ItemCount(),
	}
}

// GetOrLoad returns the fresh value under key, or the cached failure when
// Config.FailureTTL keeps one. Otherwise it calls load, once for every
// caller of key at the same time, and caches its result.
//
// ctx bounds only this caller's wait: when it ends, GetOrLoad returns
// ctx.Err() at once and the load goes on for the others. The wait is also
// bounded by Config.LoadTimeout, for a load that ignores its ctx: past it
// GetOrLoad returns an error wrapping context.DeadlineExceeded and naming
// key, and forgets the running load, so that the next caller of key starts
// a new one instead of joining it.
//
// The load gets a fresh context: it never runs in a caller's transaction.
// Its context is context.Background() bounded by Config.LoadTimeout, with
// none of ctx's values, because the load is shared by every caller of key
// and its result is cached for all of them: run with one caller's values
// (a pool.Transaction's transaction, say) it would see, and the cache would
// keep, that caller's uncommitted writes. A panic in load is returned as an
// error.
func (c *Cache[V]) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) (V, error)) (V, error) {
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if e, ok := c.Lookup(key); ok {
		return e.Value, e.Err
	}
	ch := c.group.DoChan(key, func() (any, error) {
		// A load that finished between the lookup above and this call
		// has stored its result: use it instead of loading again.
		if x, ok := c.store.Get(key); ok {
			e := x.(entry[V])
			return e.v, e.err
		}
		return c.load(key, load)
	})
	// The load's ctx ends after LoadTimeout, but a load may ignore it: the
	// wait is bounded by the same time, so that such a load cannot hold
	// the key, and every caller of it, until their own ctx ends.
	timer := time.NewTimer(c.cfg.LoadTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		return c.result(r)
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-timer.C:
		select {
		case r := <-ch: // finished in the same instant: use it
			return c.result(r)
		default:
		}
		// Let the next caller start a new load instead of joining this
		// one, whose late result is not stored.
		c.mu.Lock()
		c.abandon(key)
		c.mu.Unlock()
		c.timeouts.Add(1)
		return zero, fmt.Errorf("cache: load %q: no result within %v: %w", key, c.cfg.LoadTimeout, context.DeadlineExceeded)
	}
}

func (c *Cache[V]) result(r singleflight.Result) (V, error) {
	if r.Shared {
		c.shared.Add(1)
	}
	v, _ := r.Val.(V)
	return v, r.Err
}

func (c *Cache[V]) load(key string, load func(ctx context.Context) (V, error)) (v V, err error) {
	// Not ctx: see GetOrLoad. No caller's values, no caller's transaction.
	lctx, cancel := context.WithTimeout(context.Background(), c.cfg.LoadTimeout)
	defer cancel()
	c.loads.Add(1)
	c.mu.Lock()
	f := c.flights[key]
	if f == nil {
		f = &flight{}
		c.flights[key] = f
	}
	f.running++
	gen := f.gen
	c.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cache: load %q panicked: %v", key, p)
		}
		if err != nil {
			c.loadErrors.Add(1)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if f.running--; f.running == 0 {
			delete(c.flights, key)
		}
		switch {
		case f.gen != gen: // Delete or a waiter's timeout since it started
		case err == nil:
			c.store.Set(key, entry[V]{v: v}, c.cfg.TTL)
		case c.cfg.FailureTTL > 0:
			c.store.Set(key, entry[V]{v: v, err: err}, c.cfg.FailureTTL)
		}
	}()
	return load(lctx)
}
