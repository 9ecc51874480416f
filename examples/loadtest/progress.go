package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressBar draws one line on a terminal while a mode runs. A nil or
// disabled bar does nothing, so callers need no checks.
type progressBar struct {
	out     io.Writer
	enabled bool
	width   func() int // the terminal's columns now; 0 = unknown

	mu    sync.Mutex
	stopC chan struct{}
	done  chan struct{}
}

func newProgressBar(out io.Writer, enabled bool) *progressBar {
	p := &progressBar{out: out, enabled: enabled, width: func() int { return 0 }}
	if f, ok := out.(*os.File); ok {
		p.width = func() int {
			w, _, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0
			}
			return w
		}
	}
	return p
}

const barWidth = 30

// start draws the bar for mode until stop; cnt may be nil (children's
// counts are not known until they finish).
func (p *progressBar) start(mode string, c *config, cnt *counters) {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopC, p.done = make(chan struct{}), make(chan struct{})
	begin := time.Now()
	go func() {
		defer close(p.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			el := time.Since(begin)
			frac := float64(el) / float64(c.Duration)
			var ops, errs int64
			if cnt != nil {
				ops, errs = cnt.ops.Load(), cnt.errs.Load()
				if c.Ops > 0 {
					frac = max(frac, float64(ops)/float64(c.Ops))
				}
			}
			fmt.Fprint(p.out, "\r"+barLine(mode, frac, el, ops, errs, cnt != nil, p.width()))
			select {
			case <-p.stopC:
				fmt.Fprint(p.out, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
}

// barLine renders one state of the bar in at most width−1 columns (a
// line as wide as the terminal wraps on some), narrowing the bar and then
// dropping the counts on narrow terminals; width 0 means unknown.
func barLine(mode string, frac float64, el time.Duration, ops, errs int64, counts bool, width int) string {
	frac = min(max(frac, 0), 1)
	tail := ""
	if counts {
		tail = fmt.Sprintf("  ops %d  errors %d", ops, errs)
	}
	head := fmt.Sprintf("%-8s ", mode)
	pct := fmt.Sprintf(" %3.0f%% %5.1fs", 100*frac, el.Seconds())
	bw := barWidth
	if width > 0 {
		room := width - 1 - len(head) - len(pct) - 2
		if room-len(tail) < 10 {
			tail = ""
		}
		bw = min(barWidth, room-len(tail))
	}
	s := head + pct
	if bw >= 5 {
		n := int(frac * float64(bw))
		s = head + "[" + strings.Repeat("=", n) + strings.Repeat(" ", bw-n) + "]" + pct
	}
	s += tail
	if width > 0 && len(s) > width-1 {
		s = s[:max(width-1, 0)]
	}
	return s
}

func (p *progressBar) stop() {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopC == nil {
		return
	}
	close(p.stopC)
	<-p.done
	p.stopC = nil
}
