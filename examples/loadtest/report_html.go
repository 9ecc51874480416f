package main

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"
	"strings"
)

// The HTML report is one self-contained file: inline CSS and SVG, no
// scripts, no external assets.

var modeColor = map[string]string{modeTollgate: "#2a7ae2", modeBaseline: "#d9534f"}

func colorOf(mode string) string {
	if c, ok := modeColor[mode]; ok {
		return c
	}
	return "#777"
}

// svgBuf collects SVG elements; text is always escaped.
type svgBuf struct{ bytes.Buffer }

func (b *svgBuf) text(x, y float64, anchor, class, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, template.HTMLEscapeString(s))
}

const (
	chartW, chartH         = 720.0, 320.0
	padL, padR, padT, padB = 64.0, 16.0, 24.0, 48.0
)

// percentileChart draws grouped bars (one group per percentile, one bar
// per mode) on a log scale, since max is often ten times p99.
func percentileChart(rep *report) template.HTML {
	labels := []string{"p50", "p90", "p95", "p99", "max"}
	val := func(s modeSummary, i int) float64 {
		l := s.LatencyMS
		return []float64{l.P50, l.P90, l.P95, l.P99, l.Max}[i]
	}
	lo, hi := math.Inf(1), 0.0
	for _, m := range rep.Order {
		for i := range labels {
			if v := val(rep.Modes[m], i); v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	var b svgBuf
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" class="chart" role="img" aria-label="latency percentiles">`, chartW, chartH)
	if hi == 0 {
		b.text(chartW/2, chartH/2, "middle", "axis", "no successful operations")
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dHi == dLo {
		dHi++
	}
	plotH := chartH - padT - padB
	y := func(v float64) float64 {
		if v <= 0 {
			return chartH - padB
		}
		return chartH - padB - (math.Log10(v)-dLo)/(dHi-dLo)*plotH
	}
	for d := dLo; d <= dHi; d++ {
		v := math.Pow(10, d)
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="grid"/>`, padL, chartW-padR, y(v), y(v))
		b.text(padL-6, y(v)+4, "end", "axis", trimFloat(v)+" ms")
	}
	groupW := (chartW - padL - padR) / float64(len(labels))
	barW := groupW * 0.7 / float64(max(len(rep.Order), 1))
	for i, l := range labels {
		gx := padL + float64(i)*groupW + groupW*0.15
		for j, m := range rep.Order {
			v := val(rep.Modes[m], i)
			x := gx + float64(j)*barW
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %.2f ms</title></rect>`,
				x, y(v), barW-2, chartH-padB-y(v), colorOf(m), template.HTMLEscapeString(m), l, v)
			b.text(x+barW/2-1, y(v)-3, "middle", "val", trimFloat(v))
		}
		b.text(padL+float64(i)*groupW+groupW/2, chartH-padB+18, "middle", "axis", l)
	}
	legend(&b, rep.Order)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// seriesChart draws one line per mode of a per-250ms series.
func seriesChart(rep *report, title string, pick func(modeSummary) []int64, perSecond bool) template.HTML {
	n, hi := 0, 0.0
	scale := 1.0
	if perSecond {
		scale = float64(1e9) / float64(bucketWidth)
	}
	for _, m := range rep.Order {
		s := pick(rep.Modes[m])
		n = max(n, len(s))
		for _, v := range s {
			hi = max(hi, float64(v)*scale)
		}
	}
	var b svgBuf
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" class="chart" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	if n == 0 {
		b.text(chartW/2, chartH/2, "middle", "axis", "no data")
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	hi = niceCeil(max(hi, 1))
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	x := func(i int) float64 { return padL + (float64(i)+0.5)/float64(n)*plotW }
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
	for _, m := range rep.Order {
		s := pick(rep.Modes[m])
		var pts []string
		for i := range n {
			v := 0.0
			if i < len(s) {
				v = float64(s[i]) * scale
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colorOf(m), strings.Join(pts, " "))
	}
	legend(&b, rep.Order)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func legend(b *svgBuf, modes []string) {
	for j, m := range modes {
		lx := chartW - padR - 110
		ly := padT + float64(j)*16
		fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/>`, lx, ly-9, colorOf(m))
		b.text(lx+14, ly, "start", "axis", m)
	}
}

func trimFloat(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
	default:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tollgate loadtest {{.Rep.RunID}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.grid{stroke:#e5e5e5}.axis{font-size:11px;fill:#555}.val{font-size:10px;fill:#333}
h2{margin-top:1.6em}.note{color:#666}
.chart{width:100%;max-width:1100px;height:auto;display:block}.wide{overflow-x:auto;max-width:100%}
@media (max-width:800px){body{margin:1em}td,th{padding:3px 5px;font-size:12px}}
</style></head><body>
<h1>tollgate loadtest</h1>
<p>Run <code>{{.Rep.RunID}}</code> at {{.Rep.Started.Format "2006-01-02 15:04:05 UTC"}} against <code>{{.Rep.Target}}</code>:
workload {{.Rep.Workload}}, {{.Rep.Users}} users × {{.Rep.Instances}} instance(s), limit {{.Rep.Limit}}, {{.Query}}, fault {{.Rep.Fault}}.</p>
<div class="wide"><table><tr><th>mode</th><th>operations</th><th>errors</th><th>ops/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>queue wait p50/p99 ms</th><th>max server conns</th><th>errors by class</th></tr>
{{range .Rows}}<tr><td>{{.Mode}}</td><td>{{.Operations}}</td><td>{{.Errors}}</td><td>{{printf "%.0f" .ThroughputOpsS}}</td><td>{{printf "%.2f" .LatencyMS.P50}}</td><td>{{printf "%.2f" .LatencyMS.P95}}</td><td>{{printf "%.2f" .LatencyMS.P99}}</td><td>{{printf "%.2f" .LatencyMS.Max}}</td><td>{{printf "%.2f / %.2f" .QueueWaitMS.P50 .QueueWaitMS.P99}}</td><td>{{if ge .MaxServerConns 0}}{{.MaxServerConns}}{{else}}n/a{{end}}</td><td>{{range $k, $v := .ErrorsByClass}}{{$k}}={{$v}} {{else}}none{{end}}</td></tr>
{{end}}</table></div>
{{with .Rep.Ratios}}<p>tollgate / baseline: p50 {{printf "%.2f" .P50}}, p99 {{printf "%.2f" .P99}} (baseline p99 is {{printf "%.1f" .BaselineP99Xs}}× tollgate's), throughput {{printf "%.2f" .Throughput}}.</p>{{end}}
<h2>Latency percentiles (successful operations, log scale)</h2>
{{.Percentiles}}
<h2>Errors per 250 ms</h2>
{{if .Errors}}{{.Errors}}{{else}}<p>No errors in any mode.</p>{{end}}
<h2>Throughput (operations/s, per 250 ms, failed ones included)</h2>
{{.Throughput}}
{{.Fleet}}
<p class="note">Queue wait: tollgate's is measured per call (from Do until the call first ran); the baseline's is database/sql's average WaitDuration/WaitCount.</p>
</body></html>
`))

// errorChart is the errors-per-250 ms chart, or nothing when no mode had
// an error (an empty chart reads as "no data").
func errorChart(rep *report) template.HTML {
	for _, m := range rep.Order {
		if rep.Modes[m].Errors > 0 {
			return seriesChart(rep, "errors per 250 ms", func(s modeSummary) []int64 { return s.ErrTimeline }, false)
		}
	}
	return ""
}

// writeHTML writes the report page to path.
func writeHTML(path string, rep *report) error {
	var rows []modeSummary
	for _, m := range rep.Order {
		rows = append(rows, rep.Modes[m])
	}
	var buf bytes.Buffer
	err := pageTmpl.Execute(&buf, map[string]any{
		"Rep": rep, "Rows": rows, "Query": queryTime(rep), "Fleet": fleetHTML(rep),
		"Percentiles": percentileChart(rep),
		"Errors":      errorChart(rep),
		"Throughput":  seriesChart(rep, "operations per second", func(s modeSummary) []int64 { return s.OpsTimeline }, true),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
