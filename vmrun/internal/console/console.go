// Package console reads a guest's serial console log and recognises what
// the kernel and git rapido's /init say there: panics, oopses, BUG and
// KASAN/UBSAN reports, WARNINGs, and the init and verdict lines.
package console

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Kind classifies a console event.
type Kind string

// Event kinds, most severe first.
const (
	Panic   Kind = "panic"
	Oops    Kind = "oops"
	Bug     Kind = "bug"
	KASAN   Kind = "kasan"
	UBSAN   Kind = "ubsan"
	Warning Kind = "warning"
	Init    Kind = "init"
	Verdict Kind = "verdict"
)

// Event is one recognised line, with the lines that explain it.
type Event struct {
	Kind     Kind
	Line     string   // the line that matched, without the printk time stamp
	Excerpt  []string // the report: this line and its call trace
	ExitCode int      // for Verdict
	LineNo   int
}

// Crash reports whether the event means the kernel is broken.
func (e Event) Crash() bool {
	switch e.Kind {
	case Panic, Oops, Bug, KASAN, UBSAN, Warning:
		return true
	}
	return false
}

var (
	// The printk time stamp, and the caller id CONFIG_PRINTK_CALLER adds
	// ("[    1.020000][   T57] "), common on debug and syzbot kernels.
	stamp    = regexp.MustCompile(`^\[\s*\d+\.\d+\](\[\s*[TC]\d+\])?\s?`)
	patterns = []struct {
		kind Kind
		re   *regexp.Regexp
	}{
		{Panic, regexp.MustCompile(`^Kernel panic - not syncing`)},
		{KASAN, regexp.MustCompile(`^BUG: KASAN: `)},
		{UBSAN, regexp.MustCompile(`^UBSAN: `)},
		// The soft-lockup detector prints "watchdog: BUG: soft lockup".
		{Bug, regexp.MustCompile(`^(kernel BUG at |BUG: |watchdog: BUG: )`)},
		{Oops, regexp.MustCompile(`^(Oops: |general protection fault|Unable to handle kernel )`)},
		{Warning, regexp.MustCompile(`^WARNING: `)},
	}
	verdictRe = regexp.MustCompile(`^rapido-verdict: exit=(-?\d+)`)
)

// TestOutputPrefix starts every line the test itself printed (the guest
// init adds it), so that a test printing "WARNING: ..." or "BUG: ..." is not
// taken for a kernel report. The kernel's own lines never carry it.
const TestOutputPrefix = "rapido-test| "

// maxExcerpt bounds a report's excerpt: the header and the call trace.
const maxExcerpt = 30

// Scanner consumes console output line by line.
type Scanner struct {
	Events []Event
	lines  int
	open   *Event // report still collecting its excerpt
}

// Line feeds one console line (without newline).
func (s *Scanner) Line(raw string) {
	s.lines++
	line := strings.TrimRight(stamp.ReplaceAllString(raw, ""), "\r")
	switch {
	case line == "rapido-init: start":
		s.close()
		s.Events = append(s.Events, Event{Kind: Init, Line: line, LineNo: s.lines})
		return
	case verdictRe.MatchString(line):
		n, _ := strconv.Atoi(verdictRe.FindStringSubmatch(line)[1])
		s.close()
		s.Events = append(s.Events, Event{Kind: Verdict, Line: line, ExitCode: n, LineNo: s.lines})
		return
	}
	var kind Kind
	if strings.HasPrefix(line, TestOutputPrefix) {
		if s.open != nil && len(s.open.Excerpt) < maxExcerpt {
			s.open.Excerpt = append(s.open.Excerpt, line)
		}
		return
	}
	for _, p := range patterns {
		if p.re.MatchString(line) {
			kind = p.kind
			break
		}
	}
	if s.open != nil {
		// One crash prints several headers (BUG, then Oops, then maybe
		// the panic that ends it): they belong to the open report, whose
		// excerpt keeps collecting the call trace.
		if strings.HasPrefix(line, "---[ end") || len(s.open.Excerpt) >= maxExcerpt {
			if len(s.open.Excerpt) < maxExcerpt {
				s.open.Excerpt = append(s.open.Excerpt, line)
			}
			s.close()
		} else {
			s.open.Excerpt = append(s.open.Excerpt, line)
		}
		if kind != "" {
			s.Events = append(s.Events, Event{Kind: kind, Line: line, LineNo: s.lines})
		}
		return
	}
	if kind != "" {
		s.open = &Event{Kind: kind, Line: line, Excerpt: []string{line}, LineNo: s.lines}
	}
}

func (s *Scanner) close() {
	if s.open != nil {
		s.Events = append(s.Events, *s.open)
		s.open = nil
	}
}

// Finish closes any report still open and returns the events.
func (s *Scanner) Finish() []Event {
	s.close()
	return s.Events
}

// Scan reads a whole log.
func Scan(r io.Reader) []Event {
	var s Scanner
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		s.Line(sc.Text())
	}
	return s.Finish()
}

// Worst returns the crash that explains the run: the first report that is
// not a mere WARNING (later headers are usually consequences of the first),
// else the first WARNING.
func Worst(evs []Event) (Event, bool) {
	var warn *Event
	for i := range evs {
		e := evs[i]
		if !e.Crash() || e.Excerpt == nil {
			continue
		}
		if e.Kind != Warning {
			return e, true
		}
		if warn == nil {
			warn = &evs[i]
		}
	}
	if warn != nil {
		return *warn, true
	}
	return Event{}, false
}
