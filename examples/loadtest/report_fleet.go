package main

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
)

// instanceColors tell up to 12 instances apart; more reuse them.
var instanceColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
	"#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a"}

// fleetHTML is the fleet section of the report: the per-instance table
// and each instance's limit over time.
func fleetHTML(rep *report) template.HTML {
	var out bytes.Buffer
	for _, m := range rep.Order {
		f := rep.Modes[m].Fleet
		if f == nil {
			continue
		}
		fmt.Fprintf(&out, `<h2>Fleet (%s): budget %d, reserve %d, capacity %d</h2>`, template.HTMLEscapeString(m), f.Budget, f.Reserve, f.Capacity)
		fmt.Fprintf(&out, `<p>Over [%.1f s, %.1f s]: Jain's index of mean limits <b>%.3f</b> (worst 1 s %.3f, final limits %.3f), of throughput <b>%.3f</b>; limits in use %.1f of %d (%.0f %%); server connections at most %d, %d of %d samples above the budget; exhaustions after 2 s: %d.`,
			f.WindowFromS, f.WindowToS, f.JainLimits, f.JainLimitsMin, f.JainFinalLimits, f.JainThroughput, f.MeanLimitSum, f.Capacity, f.UsePct,
			f.MaxServerConns, f.ConnOver, f.ConnSamples, f.ExhaustionsLate)
		if f.ReclaimS >= 0 {
			fmt.Fprintf(&out, ` The killed instances' shares were held by the others %.2f s after the kill.`, f.ReclaimS)
		}
		out.WriteString(`</p><div class="wide"><table><tr><th>instance</th><th>start s</th><th>killed s</th><th>final limit</th><th>mean limit</th><th>ops</th><th>ok ops/s</th><th>p99 ms</th></tr>`)
		for _, s := range f.Instances {
			if s.Killed {
				fmt.Fprintf(&out, `<tr><td>i%02d</td><td>%.1f</td><td>%.1f</td><td colspan="5">killed (SIGKILL): no figures</td></tr>`, s.Instance, s.StartS, s.KilledS)
				continue
			}
			fmt.Fprintf(&out, `<tr><td>i%02d</td><td>%.1f</td><td>-</td><td>%d</td><td>%.2f</td><td>%d</td><td>%.0f</td><td>%.2f</td></tr>`,
				s.Instance, s.StartS, s.FinalLimit, s.MeanLimit, s.Ops, s.OpsPerS, s.P99MS)
		}
		out.WriteString(`</table></div><h3>Each instance's limit, and the total, per 250 ms</h3>`)
		out.WriteString(string(limitChart(f)))
	}
	return template.HTML(out.String())
}

// limitChart draws one step line per instance (its executor limit) and
// the sum against the capacity.
func limitChart(f *fleetSummary) template.HTML {
	n := len(f.LimitSum)
	hi := float64(f.Capacity + 1)
	for _, v := range f.LimitSum {
		hi = max(hi, float64(v))
	}
	hi = niceCeil(hi)
	var b svgBuf
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" class="chart" role="img" aria-label="limits over time">`, chartW, chartH)
	if n == 0 {
		b.text(chartW/2, chartH/2, "middle", "axis", "no samples")
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	x := func(i int) float64 { return padL + float64(i)/float64(max(n-1, 1))*plotW }
	y := func(v float64) float64 { return chartH - padB - v/hi*plotH }
	for k := 0; k <= 4; k++ {
		v := hi * float64(k) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="grid"/>`, padL, chartW-padR, y(v), y(v))
		b.text(padL-6, y(v)+4, "end", "axis", trimFloat(v))
	}
	step := max(1, n/10)
	for i := 0; i < n; i += step {
		b.text(x(i), chartH-padB+18, "middle", "axis", fmt.Sprintf("%gs", float64(i)*bucketWidth.Seconds()))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`, padL, chartW-padR, y(float64(f.Capacity)), y(float64(f.Capacity)))
	b.text(chartW-padR, y(float64(f.Capacity))-4, "end", "axis", fmt.Sprintf("capacity %d", f.Capacity))
	line := func(vals []int, color string, width float64, title string) {
		var segs []string
		var pts []string
		for i, v := range vals {
			if v < 0 {
				if len(pts) > 1 {
					segs = append(segs, strings.Join(pts, " "))
				}
				pts = nil
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(float64(v))))
		}
		if len(pts) > 1 {
			segs = append(segs, strings.Join(pts, " "))
		}
		for _, s := range segs {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" points="%s"><title>%s</title></polyline>`, color, width, s, template.HTMLEscapeString(title))
		}
	}
	line(f.LimitSum, "#000", 2.5, "sum of limits")
	for j, s := range f.Instances {
		line(s.Limits, instanceColors[j%len(instanceColors)], 1.5, fmt.Sprintf("i%02d", s.Instance))
	}
	for j, s := range f.Instances {
		lx := padL + 8 + float64(j%8)*70
		ly := padT + float64(j/8)*14
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/>`, lx, ly-9, instanceColors[j%len(instanceColors)])
		label := fmt.Sprintf("i%02d", s.Instance)
		if s.Killed {
			label += " †"
		}
		b.text(lx+14, ly, "start", "axis", label)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
