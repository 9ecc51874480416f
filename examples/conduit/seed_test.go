package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-db/tollgate/fleet"
	"github.com/tollgate-db/tollgate/internal/testdb"
	"github.com/tollgate-db/tollgate/pool"
)

// The seed's situation on a real app: several instances of the API, each
// with Prisma's connection_limit=5, behind one session-mode PgBouncer
// whose 15 client slots are fewer than the instances' 20 connections.
// Plain GORM fails there with "no more connections allowed
// (max_client_conn)" as soon as the instances are busy; tollgate's
// executor must absorb it: no answer may be a 5xx.
const (
	seedInstances = 4
	seedClients   = 200
	// seedDuration is the brief's 10 s of load: the whole test takes about
	// 15 s, over the 20 s guideline's half, because the figure to show is
	// a sustained 10 s, not a burst.
	seedDuration = 10 * time.Second
	seedUsers    = 20
)

// TestSeedSituation runs 4 instances of the API (in this process, each
// with its own pool.Open, as 4 pods would have) through the session-mode
// PgBouncer (max_client_conn 15), each with connection_limit=5, and 200
// concurrent clients for 10 s spread over them: reads, the feed, favorite
// and unfavorite, comments. Every answer must be 2xx.
//
// The instances join one fleet with the bouncer's 15 slots as its
// budget, as the README says to deploy them (FLEET_BUDGET). With
// CONDUIT_SEED_NO_FLEET=1 they do not, and only each pool's adaptive
// limit (lowered where exhaustion struck) keeps them in the budget: the
// instance that happened to meet exhaustion first can end with a limit
// of 1 while the others keep 5, and its clients then wait longer than
// the 10 s pool_timeout (503).
func TestSeedSituation(t *testing.T) {
	budget := "15"
	if os.Getenv("CONDUIT_SEED_NO_FLEET") == "1" {
		budget = ""
	}
	bouncer := testdb.PgBouncerSession(t) // the bouncer is ours alone until t ends
	db := testdb.CreateDatabase(t, "conduit_seed")
	u, err := url.Parse(testdb.WithDatabase(t, bouncer, db))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	// The seed's Prisma settings: 5 connections, 10 s to wait for one.
	q.Set("connection_limit", "5")
	q.Set("pool_timeout", "10")
	u.RawQuery = q.Encode()

	// Start the instances at once, as a deploy does: each migrates at
	// start-up, and the migrator's lock lets one apply the schema.
	pools := make([]*pool.Pool, seedInstances)
	members := make([]*fleet.Member, seedInstances)
	bases := make([]string, seedInstances)
	var wg sync.WaitGroup
	errs := make([]error, seedInstances)
	for i := range pools {
		wg.Go(func() {
			p, done, err := openPool(t.Context(), u.String(), quiet)
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(func() {
				p.Close(context.Background())
				done()
			})
			pools[i] = p
			if errs[i] = migrate(t.Context(), p, "", quiet); errs[i] != nil {
				return
			}
			members[i], errs[i] = joinFleet(t.Context(), p, budget, quiet)
			if m := members[i]; m != nil {
				t.Cleanup(func() { m.Close(context.Background()) }) // runs before the pool's Close
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		bases[i] = startServer(t, pools[i])
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: seedClients}, Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	users, slugs := seedData(t, bases[0])

	// The load: each client is one of the users, on instance i%4.
	stop := time.Now().Add(seedDuration)
	results := make([]loadResult, seedClients)
	start := time.Now()
	for i := range seedClients {
		wg.Go(func() {
			c := client{t: t, base: bases[i%seedInstances], token: users[i%len(users)]}
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for time.Now().Before(stop) {
				method, path, body := pickRequest(rng, slugs, users)
				results[i].add(loadCall(hc, c, method, path, body))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all loadResult
	for _, r := range results {
		all.merge(r)
	}
	var exhaustions, retried, decreases int64
	var limits, shares []int
	var waitP99 []time.Duration
	for _, p := range pools {
		e := p.Stats().Executor
		exhaustions += e.Exhaustions
		retried += e.Retried
		decreases += e.LimitDecreases
		limits = append(limits, e.Limit)
		waitP99 = append(waitP99, e.QueueWaitP99.Round(time.Millisecond))
	}
	for _, m := range members {
		if m != nil {
			shares = append(shares, m.Stats().Share)
		}
	}
	slices.Sort(all.lat)
	t.Logf("seed situation: %d instances x connection_limit=5&pool_timeout=10 through session PgBouncer (max_client_conn 15), fleet budget %q, %d clients for %v",
		seedInstances, budget, seedClients, elapsed.Round(time.Millisecond))
	t.Logf("  %d requests, %.0f rps, p50 %v, p99 %v, max %v; 2xx %d, 4xx %d, 5xx %d, transport errors %d",
		len(all.lat), float64(len(all.lat))/elapsed.Seconds(), pct(all.lat, 50), pct(all.lat, 99), pct(all.lat, 100),
		all.ok, all.c4xx, all.c5xx, all.transport)
	t.Logf("  pools: %d exhaustions absorbed, %d retries, %d limit decreases, limits now %v, fleet shares %v, queue wait p99 %v",
		exhaustions, retried, decreases, limits, shares, waitP99)
	for _, s := range all.samples {
		t.Logf("  sample failure: %s", s)
	}
	if all.c5xx != 0 || all.transport != 0 {
		t.Errorf("%d answers 5xx and %d transport errors; want none", all.c5xx, all.transport)
	}
	if all.c4xx != 0 {
		t.Errorf("%d answers 4xx; the workload makes only valid requests", all.c4xx)
	}
	if len(all.lat) < seedClients {
		t.Errorf("only %d requests in %v", len(all.lat), seedDuration)
	}
}

// seedData registers seedUsers users through the API, each with two
// articles, following the next three users; it returns their tokens and
// the articles' slugs.
func seedData(t *testing.T, base string) (tokens, slugs []string) {
	t.Helper()
	anon := client{t: t, base: base}
	for i := range seedUsers {
		tokens = append(tokens, anon.register(fmt.Sprintf("user%02d", i)).token)
	}
	for i, tok := range tokens {
		c := client{t: t, base: base, token: tok}
		for j := range 2 {
			a := c.want(201, "POST", "/articles", fmt.Sprintf(
				`{"article":{"title":"Article %d of user %d","description":"d","body":"b","tagList":["t%d","all"]}}`, j, i, i%5))
			slugs = append(slugs, a["article"].(map[string]any)["slug"].(string))
		}
		for k := 1; k <= 3; k++ {
			c.want(200, "POST", fmt.Sprintf("/profiles/user%02d/follow", (i+k)%seedUsers), "")
		}
	}
	return tokens, slugs
}

// pickRequest draws one request of the workload: mostly reads (lists with
// filters, the feed, an article, its comments), some writes (favorite or
// unfavorite, a comment).
func pickRequest(rng *rand.Rand, slugs, users []string) (method, path, body string) {
	slug := slugs[rng.IntN(len(slugs))]
	switch n := rng.IntN(100); {
	case n < 25:
		return "GET", "/articles?limit=10", ""
	case n < 35:
		return "GET", fmt.Sprintf("/articles?tag=t%d&limit=10", rng.IntN(5)), ""
	case n < 42:
		return "GET", fmt.Sprintf("/articles?author=user%02d", rng.IntN(len(users))), ""
	case n < 47:
		return "GET", fmt.Sprintf("/articles?favorited=user%02d", rng.IntN(len(users))), ""
	case n < 62:
		return "GET", "/articles/feed?limit=10", ""
	case n < 72:
		return "GET", "/articles/" + slug, ""
	case n < 79:
		return "GET", "/articles/" + slug + "/comments", ""
	case n < 86:
		return "POST", "/articles/" + slug + "/favorite", ""
	case n < 91:
		return "DELETE", "/articles/" + slug + "/favorite", ""
	default:
		return "POST", "/articles/" + slug + "/comments", `{"comment":{"body":"load"}}`
	}
}

// loadResult tallies one client's answers.
type loadResult struct {
	lat                       []time.Duration
	ok, c4xx, c5xx, transport int
	samples                   []string // the first few failures
}

type loadOutcome struct {
	d      time.Duration
	status int    // 0: transport error
	detail string // for failures
}

func (r *loadResult) add(o loadOutcome) {
	r.lat = append(r.lat, o.d)
	switch {
	case o.status == 0:
		r.transport++
	case o.status >= 500:
		r.c5xx++
	case o.status >= 400:
		r.c4xx++
	default:
		r.ok++
		return
	}
	if len(r.samples) < 3 {
		r.samples = append(r.samples, o.detail)
	}
}

func (r *loadResult) merge(o loadResult) {
	r.lat = append(r.lat, o.lat...)
	r.ok, r.c4xx, r.c5xx, r.transport = r.ok+o.ok, r.c4xx+o.c4xx, r.c5xx+o.c5xx, r.transport+o.transport
	for _, s := range o.samples {
		if len(r.samples) < 5 {
			r.samples = append(r.samples, s)
		}
	}
}

// loadCall sends one request as c and times it. It does not stop the
// test: failures are tallied.
func loadCall(hc *http.Client, c client, method, path, body string) loadOutcome {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+"/api"+path, rd)
	if err != nil {
		return loadOutcome{status: 0, detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+c.token)
	resp, err := hc.Do(req)
	if err != nil {
		return loadOutcome{d: time.Since(start), detail: method + " " + path + ": " + err.Error()}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return loadOutcome{d: time.Since(start), status: resp.StatusCode,
		detail: fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(msg)))}
}

// pct is the p-th percentile of sorted (p 100: the maximum).
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i-1, len(sorted)-1))].Round(time.Microsecond)
}
