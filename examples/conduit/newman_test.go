package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRealWorldSuite runs the RealWorld project's own Postman collection
// (../shared/realworld beside the repository) with newman against the API
// on each database, as the upstream run-api-tests.sh does: globals
// APIURL, USERNAME, EMAIL, PASSWORD. Every request must be answered and
// every assertion must pass. Without newman on PATH (or NEWMAN) or
// without the suite the test is skipped, except under CI=true.
// REALWORLD_DIR names the suite's directory when it is not at
// ../shared/realworld from the module root (in a git worktree, say).
func TestRealWorldSuite(t *testing.T) {
	dir := os.Getenv("REALWORLD_DIR")
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), "..", "shared", "realworld")
	}
	suite := filepath.Join(dir, "Conduit.postman_collection.json")
	if _, err := os.Stat(suite); err != nil {
		need(t, "the RealWorld suite is missing: "+err.Error())
	}
	newman := os.Getenv("NEWMAN")
	if newman == "" {
		var err error
		if newman, err = exec.LookPath("newman"); err != nil {
			need(t, "newman is not on PATH (npm install -g newman)")
		}
	}
	want := countRequests(t, suite)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			base := startServer(t, b.open(t))
			sum := runNewman(t, newman, suite, base+"/api")
			st := sum.Run.Stats
			t.Logf("newman on %s: %d requests (%d failed), %d assertions (%d failed), %d test scripts (%d failed)",
				b.name, st.Requests.Total, st.Requests.Failed, st.Assertions.Total, st.Assertions.Failed,
				st.TestScripts.Total, st.TestScripts.Failed)
			if st.Requests.Total != want || st.Requests.Failed != 0 {
				t.Errorf("requests: %d run, %d failed; want all %d run, none failed", st.Requests.Total, st.Requests.Failed, want)
			}
			if st.Assertions.Total == 0 || st.Assertions.Failed != 0 || st.TestScripts.Failed != 0 {
				t.Errorf("assertions: %d run, %d failed; test scripts failed: %d", st.Assertions.Total, st.Assertions.Failed, st.TestScripts.Failed)
			}
			for _, f := range sum.Run.Failures {
				t.Errorf("failure in %q: %s: %s", f.Source.Name, f.Error.Test, f.Error.Message)
			}
		})
	}
}

// newmanSummary is the part of newman's JSON report the test reads.
type newmanSummary struct {
	Run struct {
		Stats struct {
			Requests, Assertions, TestScripts struct{ Total, Failed int }
		} `json:"stats"`
		Failures []struct {
			Source struct{ Name string } `json:"source"`
			Error  struct{ Test, Message string }
		} `json:"failures"`
	} `json:"run"`
}

// runNewman runs the collection against apiURL with a fresh user and
// returns newman's JSON summary. newman's own output is logged when the
// run fails.
func runNewman(t *testing.T, newman, suite, apiURL string) newmanSummary {
	t.Helper()
	report := filepath.Join(t.TempDir(), "newman.json")
	user := fmt.Sprintf("u%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, newman, "run", suite,
		"--global-var", "APIURL="+apiURL,
		"--global-var", "USERNAME="+user,
		"--global-var", "EMAIL="+user+"@mail.com",
		"--global-var", "PASSWORD=password",
		"--reporters", "cli,json", "--reporter-json-export", report,
		"--color", "off", "--disable-unicode", "--timeout-request", "20000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("newman: %v (run: %v)\n%s", err, runErr, out.String())
	}
	var sum newmanSummary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("newman report: %v", err)
	}
	if runErr != nil {
		t.Errorf("newman: %v\n%s", runErr, out.String())
	}
	return sum
}

// countRequests counts the requests of a Postman collection (items with a
// request, in folders at any depth).
func countRequests(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		Item    []json.RawMessage `json:"item"`
		Request json.RawMessage   `json:"request"`
	}
	var count func(items []json.RawMessage) int
	count = func(items []json.RawMessage) int {
		n := 0
		for _, r := range items {
			var it item
			if err := json.Unmarshal(r, &it); err != nil {
				t.Fatal(err)
			}
			if it.Request != nil {
				n++
			}
			n += count(it.Item)
		}
		return n
	}
	var top item
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	n := count(top.Item)
	if n == 0 {
		t.Fatal("the collection has no requests")
	}
	return n
}
