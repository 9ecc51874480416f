package dotenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Load reads the file at path and sets each of its variables that the
// process does not have yet (os.LookupEnv: set, even to "", wins). It
// returns the names it set, in file order. A missing file sets nothing and
// is not an error; a malformed one sets nothing and the error names the
// path and line, never a value.
func Load(path string) (set []string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range vars {
		if _, ok := os.LookupEnv(v.Name); ok {
			continue
		}
		if err := os.Setenv(v.Name, v.Value); err != nil {
			return set, fmt.Errorf("%s: %s: %w", path, v.Name, err)
		}
		set = append(set, v.Name)
	}
	return set, nil
}

// Var is one assignment of a file.
type Var struct{ Name, Value string }

// Parse reads assignments from r, in order; a later one of the same name
// replaces the earlier one's value in place.
func Parse(r io.Reader) ([]Var, error) {
	var vars []Var
	index := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			line = strings.TrimLeft(rest, " \t")
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("line %d: want NAME=value", n)
		}
		if !validName(name) {
			return nil, fmt.Errorf("line %d: a variable name is letters, digits and _, not starting with a digit", n)
		}
		value, err := unquote(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("line %d: %s", n, err)
		}
		if i, ok := index[name]; ok {
			vars[i].Value = value
			continue
		}
		index[name] = len(vars)
		vars = append(vars, Var{name, value})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return vars, nil
}

func unquote(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if q := v[0]; q == '\'' || q == '"' {
		end := strings.IndexByte(v[1:], q)
		if end < 0 {
			return "", fmt.Errorf("unterminated %c quote", q)
		}
		if rest := strings.TrimSpace(v[end+2:]); rest != "" && rest[0] != '#' {
			return "", errors.New("text after the closing quote")
		}
		return v[1 : end+1], nil
	}
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i]), nil
		}
	}
	return v, nil
}

func validName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
