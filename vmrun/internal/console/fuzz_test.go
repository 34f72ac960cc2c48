package console

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzScan: the scanner never panics on any console output, its events
// point at real lines, excerpts stay bounded, Worst agrees with the events,
// and scanning a whole log equals feeding its lines one by one.
func FuzzScan(f *testing.F) {
	logs, _ := filepath.Glob("testdata/*.log")
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("[    0.1] BUG: x\n---[ end\nrapido-verdict: exit=99999999999999999999\n")
	f.Add("Kernel panic - not syncing\r\n\r\n[ 1.2][ T1] UBSAN: \n")
	f.Fuzz(func(t *testing.T, log string) {
		lines := strings.Split(log, "\n")
		if strings.HasSuffix(log, "\n") {
			lines = lines[:len(lines)-1]
		}
		for _, l := range lines {
			if len(l) > 60<<10 {
				t.Skip("line longer than the scanner buffer")
			}
		}
		evs := Scan(strings.NewReader(log))
		var s Scanner
		for _, l := range lines {
			s.Line(l)
		}
		inc := s.Finish()
		if len(inc) != len(evs) {
			t.Fatalf("Scan found %d events, line by line %d", len(evs), len(inc))
		}
		crash := false
		for i, e := range evs {
			if e.Kind != inc[i].Kind || e.LineNo != inc[i].LineNo || !slices.Equal(e.Excerpt, inc[i].Excerpt) {
				t.Fatalf("event %d: Scan %+v, line by line %+v", i, e, inc[i])
			}
			if e.LineNo < 1 || e.LineNo > len(lines) {
				t.Fatalf("event %+v at line %d of %d", e, e.LineNo, len(lines))
			}
			if len(e.Excerpt) > maxExcerpt {
				t.Fatalf("excerpt of %d lines", len(e.Excerpt))
			}
			if e.Excerpt != nil && e.Excerpt[0] != e.Line {
				t.Fatalf("excerpt starts with %q, not the header %q", e.Excerpt[0], e.Line)
			}
			if e.Kind == "" || strings.ContainsRune(e.Line, '\n') {
				t.Fatalf("bad event %+v", e)
			}
			crash = crash || (e.Crash() && e.Excerpt != nil)
		}
		w, ok := Worst(evs)
		if ok != crash || (ok && !w.Crash()) {
			t.Fatalf("Worst = %+v, %v; events %v", w, ok, kinds(evs))
		}
	})
}
