// Package report renders what the verdict cache says about a series of
// commits — per commit the verdict, whether it was tested as this very
// commit, the time of each phase and a failure excerpt — as Markdown, as
// one self-contained HTML page, or as a plain-text reply to the series'
// cover letter that ends in a Tested-by: line b4 picks up.
//
// It is pure: the caller gathers the data (git, the cache) and hands it
// over with the writer to render to. Every string in a Report comes from
// commits, the cache or mail and is untrusted: each format escapes it.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
)

// Phases are the times of one test run.
type Phases struct {
	Build, Cut, Boot, Test time.Duration
}

// Total is the sum of the phases.
func (p Phases) Total() time.Duration { return p.Build + p.Cut + p.Boot + p.Test }

// Commit is one commit of the report.
type Commit struct {
	ID      string
	Subject string
	// Verdict is pass, fail, crash, hang, build-fail, flaky, untrusted or
	// untested; Source fresh (tested as this commit) or cached (its tree,
	// tested as another commit), empty when untested.
	Verdict, Source, Reason string
	Phases                  Phases
	Duration                time.Duration
	Excerpt                 []string
	Release, Accel          string
	Spec                    []string // the test spec in words
}

// Tested says whether the cache had a trusted verdict for the commit.
func (c Commit) Tested() bool {
	return c.Verdict != "untested" && c.Verdict != "untrusted" && c.Verdict != ""
}

// Report is a series' report.
type Report struct {
	Title   string   // the series: cover letter subject, or the range
	Commits []Commit // oldest first
}

// Counts tells how many commits passed, failed (any verdict but pass) and
// were not tested.
func (r *Report) Counts() (pass, fail, untested int) {
	for _, c := range r.Commits {
		switch {
		case !c.Tested():
			untested++
		case c.Verdict == "pass":
			pass++
		default:
			fail++
		}
	}
	return
}

// AllPassed says every commit has a trusted passing verdict.
func (r *Report) AllPassed() bool {
	p, _, _ := r.Counts()
	return len(r.Commits) > 0 && p == len(r.Commits)
}

// Summary is the one-line result: "3 commits: 2 passed, 1 failed".
func (r *Report) Summary() string {
	p, f, u := r.Counts()
	parts := []string{fmt.Sprintf("%d passed", p)}
	if f > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", f))
	}
	if u > 0 {
		parts = append(parts, fmt.Sprintf("%d not tested", u))
	}
	return fmt.Sprintf("%d commit(s): %s", len(r.Commits), strings.Join(parts, ", "))
}

// Spec is the test spec in words of the commits (the first tested
// commit's; "several" when they differ), kernel releases and accelerators.
func (r *Report) Spec() (spec []string, releases, accels string) {
	var rel, acc []string
	seenR, seenA := map[string]bool{}, map[string]bool{}
	differ := false
	for _, c := range r.Commits {
		if !c.Tested() {
			continue
		}
		if spec == nil {
			spec = c.Spec
		} else if strings.Join(spec, "\n") != strings.Join(c.Spec, "\n") {
			differ = true
		}
		if c.Release != "" && !seenR[c.Release] {
			seenR[c.Release] = true
			rel = append(rel, c.Release)
		}
		if c.Accel != "" && !seenA[c.Accel] {
			seenA[c.Accel] = true
			acc = append(acc, c.Accel)
		}
	}
	if differ {
		spec = append(append([]string(nil), spec...), "(the commits were not all tested with the same spec)")
	}
	return spec, orNone(strings.Join(rel, ", ")), orNone(strings.Join(acc, ", "))
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// maxExcerpt bounds the failure excerpt of one commit.
const (
	maxExcerpt = 20
	maxLine    = 200
)

// excerpt is the last lines of a failure excerpt, each cut to maxLine.
func excerpt(lines []string) []string {
	if len(lines) > maxExcerpt {
		lines = lines[len(lines)-maxExcerpt:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = clip(clean(l), maxLine)
	}
	return out
}

// clean drops control characters (terminal escapes, NUL, newlines) from
// untrusted text; tabs become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069'):
			return -1
		}
		return r
	}, s)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// dur prints a duration for people: 4m31s, 1.2s, 350ms; "-" for none.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func verdictText(c Commit) string {
	if c.Source != "" && c.Tested() {
		return c.Verdict + " (" + c.Source + ")"
	}
	return c.Verdict
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Markdown writes the report as GitHub-flavoured Markdown.
func Markdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Test report: %s\n\n", mdText(r.Title))
	fmt.Fprintf(&b, "%s.\n\n", r.Summary())
	spec, rel, acc := r.Spec()
	fmt.Fprintf(&b, "- Kernel release: %s\n- Accelerator: %s\n", mdText(rel), mdText(acc))
	if len(spec) > 0 {
		b.WriteString("- Test spec:\n")
		for _, l := range spec {
			fmt.Fprintf(&b, "  - %s\n", mdText(l))
		}
	}
	b.WriteString("\n| # | Commit | Subject | Verdict | Build | Cut | Boot | Test | Total |\n")
	b.WriteString("|---:|---|---|---|---:|---:|---:|---:|---:|\n")
	for i, c := range r.Commits {
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s | %s | %s | %s | %s | %s |\n", i+1, short(c.ID), mdCell(c.Subject), mdCell(verdictText(c)),
			dur(c.Phases.Build), dur(c.Phases.Cut), dur(c.Phases.Boot), dur(c.Phases.Test), dur(c.Duration))
	}
	for i, c := range r.Commits {
		if !c.Tested() || c.Verdict == "pass" {
			continue
		}
		fmt.Fprintf(&b, "\n## %d. `%s` %s: %s\n\n", i+1, short(c.ID), mdText(c.Subject), mdText(c.Verdict))
		if c.Reason != "" {
			fmt.Fprintf(&b, "%s\n\n", mdText(c.Reason))
		}
		if ex := excerpt(c.Excerpt); len(ex) > 0 {
			fence := "```"
			for strings.Contains(strings.Join(ex, "\n"), fence) {
				fence += "`"
			}
			fmt.Fprintf(&b, "%s\n%s\n%s\n", fence, strings.Join(ex, "\n"), fence)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdText is untrusted text in Markdown prose: no control characters, no
// inline HTML, no emphasis or links made by it.
func mdText(s string) string {
	s = clean(s)
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>|~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func mdCell(s string) string { return mdText(clip(clean(s), 72)) }
