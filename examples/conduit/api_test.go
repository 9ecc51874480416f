package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// client calls the API as one user (token "" = anonymous).
type client struct {
	t     *testing.T
	base  string
	token string
}

// call sends body (JSON, or nothing when "") and returns the status and
// the decoded JSON answer (nil when there is none).
func (c client) call(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+"/api"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if strings.Contains(string(raw), "secret-pw") || strings.Contains(string(raw), "$2a$") {
		c.t.Errorf("%s %s: the answer mentions a password: %s", method, path, raw)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: %d %q is not JSON: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, out
}

// want checks the status of a call and returns its answer.
func (c client) want(code int, method, path, body string) map[string]any {
	c.t.Helper()
	got, out := c.call(method, path, body)
	if got != code {
		c.t.Fatalf("%s %s: status %d %v; want %d", method, path, got, out, code)
	}
	return out
}

// wantErrors checks a call is answered code in RealWorld's error shape
// with a message containing msg.
func (c client) wantErrors(code int, method, path, body, msg string) {
	c.t.Helper()
	out := c.want(code, method, path, body)
	errs, _ := out["errors"].(map[string]any)
	list, _ := errs["body"].([]any)
	for _, m := range list {
		if s, _ := m.(string); strings.Contains(s, msg) {
			return
		}
	}
	c.t.Errorf("%s %s: errors %v; want {\"errors\":{\"body\":[...%q...]}}", method, path, out, msg)
}

func (c client) register(name string) client {
	c.t.Helper()
	out := c.want(201, "POST", "/users", `{"user":{"username":"`+name+`","email":"`+name+`@example.com","password":"secret-pw"}}`)
	c.token = out["user"].(map[string]any)["token"].(string)
	return c
}

func count(t *testing.T, out map[string]any) int {
	t.Helper()
	n, ok := out["articlesCount"].(float64)
	arts, _ := out["articles"].([]any)
	if !ok {
		t.Fatalf("no articlesCount in %v", out)
	}
	if int(n) < len(arts) {
		t.Errorf("articlesCount %v < %d articles", n, len(arts))
	}
	return int(n)
}

// TestAPI checks what the public suite does not: validation, auth,
// ownership, filters, pagination and the counts, on both databases.
func TestAPI(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			anon := client{t: t, base: startServer(t, b.open(t))}

			anon.wantErrors(422, "POST", "/users", `{"user":{"username":"","email":"nope","password":"x"}}`, "username can't be blank")
			anon.wantErrors(422, "POST", "/users", `{"user":{"username":"a b","email":"a@example.com","password":"secret-pw"}}`, "username may hold only")
			anon.wantErrors(422, "POST", "/users", `{"user":`, "JSON")
			anon.wantErrors(422, "POST", "/users", `{"user":{}} {"user":{}}`, "one JSON object")
			ann := anon.register("ann")
			bob := anon.register("bob")
			anon.wantErrors(422, "POST", "/users", `{"user":{"username":"ann","email":"ann2@example.com","password":"secret-pw"}}`, "username has already been taken")
			anon.wantErrors(422, "POST", "/users", `{"user":{"username":"ann2","email":"ann@example.com","password":"secret-pw"}}`, "email has already been taken")
			anon.wantErrors(401, "POST", "/users/login", `{"user":{"email":"ann@example.com","password":"wrong-pw"}}`, "invalid")
			anon.wantErrors(401, "POST", "/users/login", `{"user":{"email":"nobody@example.com","password":"secret-pw"}}`, "invalid")
			anon.want(200, "POST", "/users/login", `{"user":{"email":"ann@example.com","password":"secret-pw"}}`)

			anon.wantErrors(401, "GET", "/user", "", "token")
			client{t: t, base: anon.base, token: "not.a.jwt"}.wantErrors(401, "GET", "/user", "", "token")
			// An unsigned token ("alg":"none") with ann's id is refused.
			client{t: t, base: anon.base, token: "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ."}.wantErrors(401, "GET", "/user", "", "token")
			me := ann.want(200, "PUT", "/user", `{"user":{"bio":"hi","image":"https://example.com/a.png"}}`)
			if u := me["user"].(map[string]any); u["bio"] != "hi" || u["image"] != "https://example.com/a.png" || u["token"] != ann.token {
				t.Errorf("updated user = %v", u)
			}
			ann.wantErrors(422, "PUT", "/user", `{"user":{"email":"bob@example.com"}}`, "email has already been taken")

			anon.wantErrors(401, "POST", "/articles", `{"article":{"title":"t","description":"d","body":"b"}}`, "token")
			ann.wantErrors(422, "POST", "/articles", `{"article":{"title":" ","description":"d","body":"b"}}`, "title can't be blank")
			a := ann.want(201, "POST", "/articles", `{"article":{"title":"Go, fast!","description":"d","body":"b","tagList":["zeta","alpha","zeta"]}}`)["article"].(map[string]any)
			slug := a["slug"].(string)
			if !strings.HasPrefix(slug, "go-fast-") {
				t.Errorf("slug %q; want go-fast-<suffix>", slug)
			}
			if tags := a["tagList"].([]any); len(tags) != 2 || tags[0] != "alpha" || tags[1] != "zeta" {
				t.Errorf("tagList %v; want [alpha zeta]", tags)
			}
			for range 3 {
				bob.want(201, "POST", "/articles", `{"article":{"title":"Bob's","description":"d","body":"b","tagList":["bob"]}}`)
			}
			bob.wantErrors(403, "PUT", "/articles/"+slug, `{"article":{"body":"mine now"}}`, "author")
			bob.wantErrors(403, "DELETE", "/articles/"+slug, "", "author")

			// Feed: bob follows ann.
			if n := count(t, bob.want(200, "GET", "/articles/feed", "")); n != 0 {
				t.Errorf("feed before follow: %d articles", n)
			}
			p := bob.want(200, "POST", "/profiles/ann/follow", "")["profile"].(map[string]any)
			if p["following"] != true {
				t.Errorf("follow: %v", p)
			}
			bob.want(200, "POST", "/profiles/ann/follow", "") // twice is fine
			bob.wantErrors(422, "POST", "/profiles/bob/follow", "", "yourself")
			bob.wantErrors(404, "POST", "/profiles/nobody/follow", "", "not found")
			feed := bob.want(200, "GET", "/articles/feed", "")
			if n := count(t, feed); n != 1 || feed["articles"].([]any)[0].(map[string]any)["slug"] != slug {
				t.Errorf("feed after follow: %v", feed)
			}
			if _, ok := feed["articles"].([]any)[0].(map[string]any)["body"]; ok {
				t.Errorf("a list carries the body: %v", feed)
			}

			// Favorites and their counts.
			fa := bob.want(200, "POST", "/articles/"+slug+"/favorite", "")["article"].(map[string]any)
			bob.want(200, "POST", "/articles/"+slug+"/favorite", "")
			ann.want(200, "POST", "/articles/"+slug+"/favorite", "")
			if fa["favorited"] != true || fa["favoritesCount"] != 1.0 || fa["author"].(map[string]any)["following"] != true {
				t.Errorf("favorite: %v", fa)
			}
			got := anon.want(200, "GET", "/articles/"+slug, "")["article"].(map[string]any)
			if got["favorited"] != false || got["favoritesCount"] != 2.0 || got["body"] != "b" {
				t.Errorf("anonymous view: %v", got)
			}

			// Filters and pagination.
			for _, c := range []struct {
				query string
				want  int
			}{
				{"", 4}, {"?tag=alpha", 1}, {"?tag=bob", 3}, {"?tag=none", 0}, {"?author=bob", 3}, {"?author=ann", 1},
				{"?favorited=bob", 1}, {"?favorited=ann&tag=alpha", 1}, {"?favorited=ann&author=bob", 0},
				{"?tag=x'%20OR%201=1%20--", 0}, {"?author=%25", 0},
			} {
				if n := count(t, anon.want(200, "GET", "/articles"+c.query, "")); n != c.want {
					t.Errorf("GET /articles%s: articlesCount %d; want %d", c.query, n, c.want)
				}
			}
			page := anon.want(200, "GET", "/articles?limit=2&offset=3", "")
			if arts := page["articles"].([]any); len(arts) != 1 || count(t, page) != 4 || arts[0].(map[string]any)["slug"] != slug {
				t.Errorf("limit=2&offset=3: %v; want the oldest article only, of 4", page)
			}
			// Full pages, short pages and pages past the end: the count is
			// the whole result's either way.
			for _, pq := range []struct {
				query    string
				n, total int
			}{{"?limit=2", 2, 4}, {"?limit=4", 4, 4}, {"?limit=2&offset=10", 0, 4}, {"?tag=bob&limit=3&offset=3", 0, 3}, {"?tag=bob&limit=2&offset=2", 1, 3}} {
				page := anon.want(200, "GET", "/articles"+pq.query, "")
				if arts := page["articles"].([]any); len(arts) != pq.n || count(t, page) != pq.total {
					t.Errorf("GET /articles%s: %d articles of %v; want %d of %d", pq.query, len(arts), page["articlesCount"], pq.n, pq.total)
				}
			}
			anon.wantErrors(422, "GET", "/articles?limit=0", "", "limit")
			anon.wantErrors(422, "GET", "/articles?offset=-1", "", "offset")

			// Comments.
			c := bob.want(200, "POST", "/articles/"+slug+"/comments", `{"comment":{"body":"nice"}}`)["comment"].(map[string]any)
			bob.wantErrors(422, "POST", "/articles/"+slug+"/comments", `{"comment":{"body":""}}`, "body can't be blank")
			id := jsonNumber(c["id"])
			cs := ann.want(200, "GET", "/articles/"+slug+"/comments", "")["comments"].([]any)
			if len(cs) != 1 || cs[0].(map[string]any)["author"].(map[string]any)["username"] != "bob" {
				t.Errorf("comments: %v", cs)
			}
			ann.wantErrors(403, "DELETE", "/articles/"+slug+"/comments/"+id, "", "author")
			bob.want(204, "DELETE", "/articles/"+slug+"/comments/"+id, "")
			bob.wantErrors(404, "DELETE", "/articles/"+slug+"/comments/"+id, "", "not found")

			tags := anon.want(200, "GET", "/tags", "")["tags"].([]any)
			if len(tags) != 3 || tags[0] != "alpha" {
				t.Errorf("tags: %v", tags)
			}

			// Unfavorite, unfollow, delete.
			if a := bob.want(200, "DELETE", "/articles/"+slug+"/favorite", "")["article"].(map[string]any); a["favorited"] != false || a["favoritesCount"] != 1.0 {
				t.Errorf("unfavorite: %v", a)
			}
			bob.want(200, "DELETE", "/profiles/ann/follow", "")
			if n := count(t, bob.want(200, "GET", "/articles/feed", "")); n != 0 {
				t.Errorf("feed after unfollow: %d articles", n)
			}
			up := ann.want(200, "PUT", "/articles/"+slug, `{"article":{"title":"Renamed","tagList":["zeta","beta"]}}`)["article"].(map[string]any)
			if tags := up["tagList"].([]any); len(tags) != 2 || tags[0] != "beta" || tags[1] != "zeta" {
				t.Errorf("tags replaced: %v; want [beta zeta]", tags)
			}
			if n := count(t, anon.want(200, "GET", "/articles?tag=alpha", "")); n != 0 {
				t.Errorf("?tag=alpha after its removal: %d articles", n)
			}
			if up := ann.want(200, "PUT", "/articles/"+up["slug"].(string), `{"article":{"body":"b2"}}`)["article"].(map[string]any); len(up["tagList"].([]any)) != 2 {
				t.Errorf("an update without tagList changed the tags: %v", up["tagList"])
			}
			if s := up["slug"].(string); !strings.HasPrefix(s, "renamed-") {
				t.Errorf("renamed slug %q", s)
			} else {
				slug = s
			}
			ann.want(204, "DELETE", "/articles/"+slug, "")
			anon.wantErrors(404, "GET", "/articles/"+slug, "", "not found")
			anon.wantErrors(404, "GET", "/articles/"+slug+"/comments", "", "not found")
		})
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
