package main

import (
	"strings"
	"testing"
	"time"
)

// TestBarLineFitsTheTerminal: the bar never takes the last column (it
// would wrap), narrows first and drops the counts below ~60 columns.
func TestBarLineFitsTheTerminal(t *testing.T) {
	for _, w := range []int{0, 20, 40, 59, 60, 69, 70, 80, 200} {
		s := barLine("tollgate", 0.5, 3*time.Second, 123456, 7, true, w)
		if w > 0 && len(s) > w-1 {
			t.Errorf("width %d: %d columns: %q", w, len(s), s)
		}
		if w == 0 || w >= 80 {
			if !strings.Contains(s, "ops 123456") || !strings.Contains(s, "[") {
				t.Errorf("width %d: counts or bar missing: %q", w, s)
			}
		}
	}
}
