package repo_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/tollgate-db/tollgate/repo"
)

// cursorOf encodes a hand-made cursor, as a client tampering would.
func cursorOf(js string) string { return base64.RawURLEncoding.EncodeToString([]byte(js)) }

// hashOf reads the query-shape field of a real cursor, so that a forged
// cursor fails on its value and not on its shape.
func hashOf[T any](t *testing.T, _ *repo.Repository[T], cursor string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		H string `json:"h"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.H
}
