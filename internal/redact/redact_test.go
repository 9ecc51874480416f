package redact_test

import (
	"strings"
	"testing"

	"github.com/tollgate-db/tollgate/internal/redact"
)

func TestDSN(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		hidden   []string // must not survive
	}{
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable", []string{"s3cret"}},
		{"postgres://u@h/db", "postgres://u@h/db", nil},
		{"postgres://h:5432,h2:5433/db?application_name=a@b", "postgres://h:5432,h2:5433/db?application_name=a@b", nil},
		{"postgres://u:p@ss@h/db", "postgres://u:xxxxx@h/db", []string{"p@ss", "ss@"}},
		{"postgres://u:2024/Secret@host/db", "postgres://u:xxxxx@host/db", []string{"Secret"}},
		{"postgres://u:a/b@c@db/app", "postgres://u:xxxxx@db/app", []string{"a/b", "b@c"}},
		{"postgres://u:pa?ss@h/db", "postgres://u:xxxxx@h/db", []string{"pa?ss"}},
		{"postgres://u:pa#ss@h/db", "postgres://u:xxxxx@h/db", []string{"pa#ss"}},
		{"postgres://u:pa/x?y@h/db", "postgres://u:xxxxx@h/db", []string{"pa/x", "x?y"}},
		{"postgres://u:secret/db", "postgres://u:xxxxx/db", []string{"secret"}},
		{"postgres:///test?password=S3cr3t;XYZ", "postgres:///test?password=xxxxx", []string{"S3cr3t"}},
		{"postgres://h/db?password=50%off&sslmode=disable", "postgres://h/db?password=xxxxx&sslmode=disable", []string{"50%off"}},
		{"postgres://h/db?PassWord=abc&SSLPASSWORD=def", "postgres://h/db?PassWord=xxxxx&SSLPASSWORD=xxxxx", []string{"abc", "def"}},
		{"postgres://h/db?pass%77ord=abc", "postgres://h/db?pass%77ord=xxxxx", []string{"abc"}},
		{"postgres://h/db?password=a&bcd&x=1&sslmode=disable", "postgres://h/db?password=xxxxx&xxxxx&xxxxx&sslmode=disable", []string{"bcd", "x=1"}},
		{"postgres://h/db?password=a=b", "postgres://h/db?password=xxxxx", []string{"a=b"}},
		{"postgres://u:pw@[::1]:5432/db", "postgres://u:xxxxx@[::1]:5432/db", []string{"pw"}},
		{"host=h password=s3cret dbname=d", "host=h password=xxxxx dbname=d", []string{"s3cret"}},
		{"host=h PASSWORD = 's3 cret' dbname=d", "host=h PASSWORD = xxxxx dbname=d", []string{"s3", "cret"}},
		{`host=h password='it\'s' dbname=d`, "host=h password=xxxxx dbname=d", []string{"it"}},
		{`host=h password=a\ b dbname=d`, "host=h password=xxxxx dbname=d", []string{"a\\", "b dbname"}},
		{"host=h password='unterminated dbname=d", "host=h password=xxxxx", []string{"unterminated"}},
		{"host=h password secret", "host=h xxxxx", []string{"secret"}},
		{"host=h sslpassword=k3y", "host=h sslpassword=xxxxx", []string{"k3y"}},
	} {
		got := redact.DSN(tc.in)
		if got != tc.want {
			t.Errorf("DSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, h := range tc.hidden {
			if strings.Contains(got, h) {
				t.Errorf("DSN(%q) = %q keeps %q", tc.in, got, h)
			}
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		in      string
		secrets []string
		want    string
	}{
		{"dial postgres://app:s3cret@db:5432/app failed", nil, "dial postgres://app:xxxxx@db:5432/app failed"},
		{"cannot parse `postgres://app:p@ss@db/app`: x", nil, "cannot parse `postgres://app:xxxxx@db/app`: x"},
		{"postgres://a:one@h1/d and postgres://b:two@h2/d", nil, "postgres://a:xxxxx@h1/d and postgres://b:xxxxx@h2/d"},
		{"postgres://app:pw@db/app: no access for ops@example.com", nil, "postgres://app:xxxxx@db/app: no access for ops@example.com"},
		{"host=db user=app password=s3cret dbname=app", nil, "host=db user=app password=xxxxx dbname=app"},
		{"PGPASSWORD=abc make test", nil, "PGPASSWORD=xxxxx make test"},
		{"x?sslpassword=abc&y=1", nil, "x?sslpassword=xxxxx&y=1"},
		{"password authentication failed for user app", nil, "password authentication failed for user app"},
		{"bad value my secret here", []string{"my secret"}, "bad value xxxxx here"},
		{"escaped my%20secret and my+secret and \"a\\\"b\"", []string{"my secret", `a"b`}, "escaped xxxxx and xxxxx and \"xxxxx\""},
		{"too many clients already", []string{""}, "too many clients already"},
	} {
		if got := redact.Text(tc.in, tc.secrets...); got != tc.want {
			t.Errorf("Text(%q, %q) = %q, want %q", tc.in, tc.secrets, got, tc.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	got := redact.Secrets("postgres://u:p%40ss@h/db?sslpassword=k%20y")
	want := []string{"p%40ss", "p@ss", "k%20y", "k y"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Secrets = %q, want %q", got, want)
	}
}

func TestLargeIsLinear(t *testing.T) {
	pw := strings.Repeat("a@/?&:b", 150_000) // ~1 MB of every separator
	for _, in := range []string{
		"postgres://u:" + pw + "@h/db?password=" + pw,
		"host=h password='" + pw + "'",
		"error: " + pw + " password=" + pw,
	} {
		out := redact.DSN(in) + redact.Text(in, pw)
		if strings.Contains(out, pw[:64]) {
			t.Fatal("a 1 MB password survives")
		}
	}
}

// A Masker masks as Text does, with the encodings computed once.
func TestMaskerMatchesText(t *testing.T) {
	secrets := []string{"my secret", `a"b`, "p@ss/w0rd"}
	m := redact.NewMasker(secrets...)
	for _, in := range []string{
		"escaped my%20secret and my+secret and \"a\\\"b\"",
		"dial postgres://u:p@ss/w0rd@h/db: p%40ss%2Fw0rd refused",
		"nothing here", "",
	} {
		if got, want := m.Text(in), redact.Text(in, secrets...); got != want {
			t.Errorf("Masker.Text(%q) = %q, Text = %q", in, got, want)
		}
	}
	var nilMasker *redact.Masker
	if got := nilMasker.Text("password=x"); got != "password=xxxxx" {
		t.Errorf("nil Masker: %q", got)
	}
}

// A pair with an unusual key right after a secret is hidden with it: it
// may be the rest of a password with a raw '&' or space.
func TestTailAfterSecret(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://h/db?password=&000000=&sslmode=disable":    "postgres://h/db?password=&xxxxx&sslmode=disable",
		"postgres://h/db?password=ab&cd=ef&gh=ij&timezone=UTC": "postgres://h/db?password=xxxxx&xxxxx&xxxxx&timezone=UTC",
		"postgres://h/db?sslmode=disable&weird=1":              "postgres://h/db?sslmode=disable&weird=1",
		"host=h password=ab cd=ef dbname=d":                    "host=h password=xxxxx xxxxx dbname=d",
		"host=h password=ab dbname=d x=y":                      "host=h password=xxxxx dbname=d x=y",
	} {
		if got := redact.DSN(in); got != want {
			t.Errorf("DSN(%q) = %q, want %q", in, got, want)
		}
	}
}
