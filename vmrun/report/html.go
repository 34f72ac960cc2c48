package report

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"
)

// The page is one file: inline CSS and SVG, no script, no link, no font or
// image fetched, so it can be mailed or attached to a CI run as it is.
const css = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}code,pre{font:12px ui-monospace,monospace}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}.pass{color:#137333}.fail{color:#b3261e;font-weight:bold}.untested{color:#777}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}`

var phaseColors = [4]string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759"}
var phaseNames = [4]string{"build", "cut", "boot", "test"}

const barWidth = 320

// HTML writes the report as one self-contained page with a stacked bar of
// build, cut, boot and test time per commit, on one scale.
func HTML(w io.Writer, r *Report) error {
	var b strings.Builder
	e := func(s string) string { return html.EscapeString(clean(s)) }
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>Test report: %s</title>\n<style>%s</style></head><body>\n", e(r.Title), css)
	fmt.Fprintf(&b, "<h1>Test report: %s</h1>\n<p>%s.</p>\n", e(r.Title), e(r.Summary()))
	spec, rel, acc := r.Spec()
	fmt.Fprintf(&b, "<ul><li>Kernel release: %s</li><li>Accelerator: %s</li>", e(rel), e(acc))
	if len(spec) > 0 {
		b.WriteString("<li>Test spec:<ul>")
		for _, l := range spec {
			fmt.Fprintf(&b, "<li>%s</li>", e(l))
		}
		b.WriteString("</ul></li>")
	}
	b.WriteString("</ul>\n<p class=\"legend\">")
	for i, n := range phaseNames {
		fmt.Fprintf(&b, "<span style=\"background:%s\"></span>%s", phaseColors[i], n)
	}
	b.WriteString("</p>\n<table>\n<tr><th>#</th><th>Commit</th><th>Subject</th><th>Verdict</th><th>Build</th><th>Cut</th><th>Boot</th><th>Test</th><th>Total</th><th>Time</th></tr>\n")
	var longest time.Duration
	for _, c := range r.Commits {
		longest = max(longest, c.Phases.Total())
	}
	for i, c := range r.Commits {
		class := "fail"
		switch {
		case !c.Tested():
			class = "untested"
		case c.Verdict == "pass":
			class = "pass"
		}
		fmt.Fprintf(&b, "<tr><td class=\"n\">%d</td><td><code>%s</code></td><td>%s</td><td class=\"%s\">%s</td>",
			i+1, e(short(c.ID)), e(clip(clean(c.Subject), 72)), class, e(verdictText(c)))
		for _, d := range []time.Duration{c.Phases.Build, c.Phases.Cut, c.Phases.Boot, c.Phases.Test, c.Duration} {
			fmt.Fprintf(&b, "<td class=\"n\">%s</td>", dur(d))
		}
		fmt.Fprintf(&b, "<td>%s</td></tr>\n", bar(c.Phases, longest))
	}
	b.WriteString("</table>\n")
	for i, c := range r.Commits {
		if !c.Tested() || c.Verdict == "pass" {
			continue
		}
		fmt.Fprintf(&b, "<h2>%d. <code>%s</code> %s: %s</h2>\n", i+1, e(short(c.ID)), e(c.Subject), e(c.Verdict))
		if c.Reason != "" {
			fmt.Fprintf(&b, "<p>%s</p>\n", e(c.Reason))
		}
		if ex := excerpt(c.Excerpt); len(ex) > 0 {
			fmt.Fprintf(&b, "<pre>%s</pre>\n", html.EscapeString(strings.Join(ex, "\n")))
		}
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// bar is an inline SVG stacked bar of p, scaled so that longest fills it.
func bar(p Phases, longest time.Duration) string {
	if longest <= 0 || p.Total() <= 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="14" role="img" aria-label="build %s, cut %s, boot %s, test %s">`,
		barWidth, dur(p.Build), dur(p.Cut), dur(p.Boot), dur(p.Test))
	x := 0.0
	for i, d := range []time.Duration{p.Build, p.Cut, p.Boot, p.Test} {
		if d <= 0 {
			continue
		}
		wd := float64(barWidth) * float64(d) / float64(longest)
		fmt.Fprintf(&b, `<rect x="%.1f" y="0" width="%.1f" height="14" fill="%s"><title>%s %s</title></rect>`, x, wd, phaseColors[i], phaseNames[i], dur(d))
		x += wd
	}
	b.WriteString("</svg>")
	return b.String()
}
