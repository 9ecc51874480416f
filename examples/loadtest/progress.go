package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBar draws one line on a terminal while a mode runs. A nil or
// disabled bar does nothing, so callers need no checks.
type progressBar struct {
	out     io.Writer
	enabled bool

	mu    sync.Mutex
	stopC chan struct{}
	done  chan struct{}
}

func newProgressBar(out io.Writer, enabled bool) *progressBar {
	return &progressBar{out: out, enabled: enabled}
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
			fmt.Fprint(p.out, "\r"+barLine(mode, frac, el, ops, errs, cnt != nil))
			select {
			case <-p.stopC:
				fmt.Fprint(p.out, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
}

// barLine renders one state of the bar.
func barLine(mode string, frac float64, el time.Duration, ops, errs int64, counts bool) string {
	frac = min(max(frac, 0), 1)
	n := int(frac * barWidth)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", barWidth-n)
	s := fmt.Sprintf("%-8s [%s] %3.0f%% %5.1fs", mode, bar, 100*frac, el.Seconds())
	if counts {
		s += fmt.Sprintf("  ops %d  errors %d", ops, errs)
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
