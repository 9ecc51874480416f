package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-db/tollgate/pool"
)

// emailOf returns a syntactically valid address of exactly n bytes
// (n from 80 to 400): a 64-byte local part and a domain of labels of at
// most 63 bytes.
func emailOf(n int) string {
	var b strings.Builder
	b.WriteString(strings.Repeat("a", 64) + "@")
	rest := n - b.Len() - len(".com")
	for rest > 64 {
		b.WriteString(strings.Repeat("d", 63) + ".")
		rest -= 64
	}
	b.WriteString(strings.Repeat("d", rest) + ".com")
	return b.String()
}

func TestCreateUserValidation(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) { testCreateUserValidation(t, open(t)) })
	}
}

func testCreateUserValidation(t *testing.T, p *pool.Pool) {
	t.Cleanup(func() { p.Close(context.Background()) })
	if err := migrate(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	srv := newServer(p, serverConfig{Logger: quiet})
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	body := func(email, name string) string {
		return `{"email":"` + email + `","name":"` + name + `"}`
	}
	if n := len(emailOf(320)); n != 320 {
		t.Fatalf("emailOf(320) has %d bytes", n)
	}
	for _, c := range []call{
		{"email of 320 bytes", "POST", "/api/users", "", body(emailOf(320), "Max"), 201, `"name":"Max"`},
		{"email of 321 bytes", "POST", "/api/users", "", body(emailOf(321), "Over"), 400, "320 bytes"},
		{"name of 200 bytes", "POST", "/api/users", "", body("n200@example.com", strings.Repeat("n", 200)), 201, `"email":"n200@example.com"`},
		{"name of 201 bytes", "POST", "/api/users", "", body("n201@example.com", strings.Repeat("n", 201)), 400, "200 bytes"},
		{"name of 200 bytes in multi-byte runes", "POST", "/api/users", "", body("n3@example.com", strings.Repeat("é", 101)), 400, "200 bytes"},
		{"NUL in name", "POST", "/api/users", "", body("nul@example.com", `a\u0000b`), 400, "NUL"},
		{"trailing object", "POST", "/api/users", "", body("t1@example.com", "T") + ` {}`, 400, "after the JSON object"},
		{"trailing garbage", "POST", "/api/users", "", body("t2@example.com", "T") + ` x`, 400, "after the JSON object"},
		{"second object glued on", "POST", "/api/users", "", body("t3@example.com", "T") + body("t4@example.com", "U"), 400, "after the JSON object"},
		{"trailing white space is fine", "POST", "/api/users", "", body("t5@example.com", "T") + " \n\t", 201, `"email":"t5@example.com"`},
		{"trailing padding too large", "POST", "/api/users", "", body("t6@example.com", "T") + strings.Repeat(" ", 17<<10), 413, "too large"},
	} {
		code, got := do(t, ts, c)
		if code != c.wantCode || !strings.Contains(got, c.wantBody) || !strings.HasPrefix(got, "{") {
			t.Errorf("%s: %d %s; want %d containing %q", c.name, code, got, c.wantCode, c.wantBody)
		}
	}
	_, list := do(t, ts, call{method: "GET", path: "/api/users?limit=100"})
	for _, email := range []string{emailOf(321), "nul@example.com", "t1@example.com", "t2@example.com", "t3@example.com", "t4@example.com", "t6@example.com"} {
		if strings.Contains(list, `"`+email+`"`) {
			t.Errorf("a refused request created %s", email)
		}
	}
}
