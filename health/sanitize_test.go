package health_test

import (
	"strings"
	"testing"

	"github.com/tollgate-db/tollgate/health"
)

func TestSanitize(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		secrets        []string // must not survive, even when want is ""
	}{
		{"plain url", "dial postgres://app:s3cret@db:5432/app failed", "dial postgres://app:xxxxx@db:5432/app failed", []string{"s3cret"}},
		{"raw @ in password", "dial postgres://app:p@ss@db:5432/app failed", "dial postgres://app:xxxxx@db:5432/app failed", []string{"p@ss", "ss@"}},
		{"raw / in password", "dial postgres://app:pa/ss@db/app failed", "dial postgres://app:xxxxx@db/app failed", []string{"pa/ss"}},
		{"raw @ and / in password", "postgresql://app:a/b@c@db/app", "postgresql://app:xxxxx@db/app", []string{"a/b", "b@c"}},
		{"escaped password", "postgres://app:p%40ss@db/app", "postgres://app:xxxxx@db/app", []string{"p%40ss"}},
		{"quoted url", `cannot parse "postgres://app:p@ss@db/app"`, `cannot parse "postgres://app:xxxxx@db/app"`, []string{"p@ss"}},
		{"two urls", "postgres://a:one@h1/d and postgres://b:two@h2/d", "postgres://a:xxxxx@h1/d and postgres://b:xxxxx@h2/d", []string{"one", "two"}},
		{"url then an address", "postgres://app:pw@db/app: no access for ops@example.com", "postgres://app:xxxxx@db/app: no access for ops@example.com", []string{"pw@"}},
		{"no password", "postgres://app@db:5432/app", "postgres://app@db:5432/app", nil},
		{"port, no user", "postgres://db:5432/app", "postgres://db:5432/app", nil},
		{"keyword", "host=db user=app password=s3cret dbname=app", "host=db user=app password=xxxxx dbname=app", []string{"s3cret"}},
		{"quoted keyword", "host=db password='s3 cret' dbname=app", "host=db password=xxxxx dbname=app", []string{"s3", "cret"}},
		{"nothing to hide", "too many clients already", "too many clients already", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := health.Sanitize(tc.in)
			if got != tc.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for _, s := range tc.secrets {
				if strings.Contains(got, s) {
					t.Errorf("Sanitize(%q) = %q keeps %q", tc.in, got, s)
				}
			}
		})
	}
}
