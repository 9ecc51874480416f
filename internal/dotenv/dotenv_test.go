package dotenv_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-db/tollgate/internal/dotenv"
	"github.com/tollgate-db/tollgate/pool"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []dotenv.Var
	}{
		{"plain", "A=1\nB=two words\n", []dotenv.Var{{"A", "1"}, {"B", "two words"}}},
		{"comments and blanks", "# a comment\n\n  # indented\nA=1 # trailing\nB=x#not-a-comment\n", []dotenv.Var{{"A", "1"}, {"B", "x#not-a-comment"}}},
		{"export and spaces", "export A = 1\n\tB=\t2 \r\n", []dotenv.Var{{"A", "1"}, {"B", "2"}}},
		{"empty value", "A=\nB=''\n", []dotenv.Var{{"A", ""}, {"B", ""}}},
		{"single quotes are literal", `A='pa$word #1 "x" \n' # note`, []dotenv.Var{{"A", `pa$word #1 "x" \n`}}},
		{"double quotes are literal", `A="it's $HOME"`, []dotenv.Var{{"A", `it's $HOME`}}},
		{"no expansion unquoted", "A=postgres://u:pa$word@h/db?x=1&y=$Z", []dotenv.Var{{"A", "postgres://u:pa$word@h/db?x=1&y=$Z"}}},
		{"equals in value", "A=a=b=c", []dotenv.Var{{"A", "a=b=c"}}},
		{"later wins in place", "A=1\nB=2\nA=3\n", []dotenv.Var{{"A", "3"}, {"B", "2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dotenv.Parse(strings.NewReader(tc.in))
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Parse = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// A malformed line is named by its number; no value, and so no secret,
// appears in the error.
func TestParseErrorsNameTheLineOnly(t *testing.T) {
	const secret = "s3cr3t-Pw"
	for _, tc := range []struct{ in, want string }{
		{"A=1\nDATABASE_URL postgres://u:" + secret + "@h\n", "line 2: want NAME=value"},
		{"A='" + secret + "\n", "line 1: unterminated ' quote"},
		{`A="` + secret + `" trailing` + "\n", "line 1: text after the closing quote"},
		{"1A=" + secret + "\n", "line 1: a variable name"},
		{"A-B=" + secret + "\n", "line 1: a variable name"},
	} {
		_, err := dotenv.Parse(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("Parse(%q) = %v, want %q without the secret", tc.in, err, tc.want)
		}
	}
}

func TestLoadProcessEnvWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("TOLLGATE_DOTENV_A=file\nTOLLGATE_DOTENV_B=file\nTOLLGATE_DOTENV_C=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_DOTENV_A", "process")
	t.Setenv("TOLLGATE_DOTENV_B", "") // set to empty still wins
	t.Setenv("TOLLGATE_DOTENV_C", "")
	os.Unsetenv("TOLLGATE_DOTENV_C") // unset: the file's value applies
	set, err := dotenv.Load(path)
	if err != nil || !slices.Equal(set, []string{"TOLLGATE_DOTENV_C"}) {
		t.Fatalf("Load = %v, %v", set, err)
	}
	for k, want := range map[string]string{"TOLLGATE_DOTENV_A": "process", "TOLLGATE_DOTENV_B": "", "TOLLGATE_DOTENV_C": "file"} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestLoadMissingFileIsFine(t *testing.T) {
	set, err := dotenv.Load(filepath.Join(t.TempDir(), ".env"))
	if err != nil || set != nil {
		t.Fatalf("Load of a missing file = %v, %v", set, err)
	}
}

func TestLoadMalformedSetsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(path, []byte("TOLLGATE_DOTENV_D=1\nbroken\n"), 0o600)
	os.Unsetenv("TOLLGATE_DOTENV_D")
	if _, err := dotenv.Load(path); err == nil || !strings.Contains(err.Error(), path+": line 2") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := os.LookupEnv("TOLLGATE_DOTENV_D"); ok {
		t.Fatal("a malformed file set a variable")
	}
}

// The repository's .env.example parses, names the variables the examples
// read, and sets nothing that would break a copy used as is: its only
// active DATABASE_URL is none (the embedded SQLite).
func TestEnvExample(t *testing.T) {
	f, err := os.Open("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars, err := dotenv.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	active := map[string]string{}
	for _, v := range vars {
		active[v.Name] = v.Value
	}
	if v, ok := active["DATABASE_URL"]; ok && v != "" {
		t.Errorf("DATABASE_URL is active (%q): a copy used as is would point at a placeholder host", v)
	}
	raw, _ := os.ReadFile("../../.env.example")
	text := string(raw)
	for _, want := range []string{
		"DATABASE_URL=", "DIRECT_URL=", "APP_ENV=", "HEALTH_TOKEN=", "LOG_LEVEL=",
		"pgbouncer=true&connection_limit=5", ":6543/", ":5432/", "sslmode=",
	} {
		if !strings.Contains(text, want) {
			t.Errorf(".env.example lacks %q", want)
		}
	}
	// Every setting line is preceded by a comment that explains it.
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		s := strings.TrimPrefix(strings.TrimSpace(l), "# ")
		if strings.Contains(s, "=") && !strings.HasPrefix(strings.TrimSpace(l), "#") && (i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
			t.Errorf(".env.example line %d (%s) has no comment above it", i+1, strings.SplitN(s, "=", 2)[0])
		}
	}
}

// Every connection string .env.example offers, uncommented, is one the
// pool accepts, with the seed's settings where the file says so.
func TestEnvExampleURLsParse(t *testing.T) {
	raw, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "# ")
		if !ok || !(strings.HasPrefix(rest, "DATABASE_URL=") || strings.HasPrefix(rest, "DIRECT_URL=")) {
			continue
		}
		vars, err := dotenv.Parse(strings.NewReader(rest))
		if err != nil || len(vars) != 1 {
			t.Fatalf("%.30s…: %v", rest, err)
		}
		s, err := pool.ParseURL(vars[0].Value)
		if err != nil {
			t.Errorf("%s: %v", vars[0].Name, err)
			continue
		}
		n++
		if strings.Contains(vars[0].Value, ":6543/") && (!s.PgBouncer || s.ConnectionLimit != 5) {
			t.Errorf("transaction-mode URL %s: pgbouncer %v, connection_limit %d; want true, 5", s.Redacted, s.PgBouncer, s.ConnectionLimit)
		}
	}
	if n < 6 {
		t.Fatalf("%d URLs found in .env.example, want the 5 DATABASE_URL setups and DIRECT_URL", n)
	}
}
