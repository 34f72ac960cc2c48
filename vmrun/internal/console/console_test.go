package console

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func scanFile(t *testing.T, name string) []Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Scan(bytes.NewReader(b))
}

func kinds(evs []Event) []Kind {
	var ks []Kind
	for _, e := range evs {
		ks = append(ks, e.Kind)
	}
	return ks
}

// TestRecordedLogs scans console logs recorded from real kernels (trimmed)
// and checks what the run would be classified as.
func TestRecordedLogs(t *testing.T) {
	for _, tc := range []struct {
		log      string
		kinds    []Kind
		crash    bool
		worst    Kind
		line     string // Worst().Line
		last     string // the excerpt's last line
		nexcerpt int
		verdict  int // exit code of the Verdict event, -1 for none
	}{
		{log: "clean-boot.log", kinds: []Kind{Init, Verdict}, verdict: 0},
		{log: "crlf-fail.log", kinds: []Kind{Init, Verdict}, verdict: 3},
		{log: "panic.log", kinds: []Kind{Panic}, crash: true, worst: Panic,
			line:     "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
			last:     "---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---",
			nexcerpt: 15, verdict: -1},
		{log: "oops.log", kinds: []Kind{Init, Oops, Bug, Panic}, crash: true, worst: Bug,
			line:     "BUG: kernel NULL pointer dereference, address: 0000000000000008",
			last:     "---[ end trace 0000000000000000 ]---",
			nexcerpt: 21, verdict: -1},
		{log: "kasan.log", kinds: []Kind{Init, KASAN, Verdict}, crash: true, worst: KASAN,
			line:     "BUG: KASAN: slab-out-of-bounds in kmalloc_oob_right+0x96/0xb0 [test_kasan]",
			last:     "^", // cut at maxExcerpt lines, in the shadow-memory dump
			nexcerpt: maxExcerpt, verdict: 0},
		{log: "ubsan.log", kinds: []Kind{Init, UBSAN, Verdict}, crash: true, worst: UBSAN,
			line:     "UBSAN: array-index-out-of-bounds in lib/test_ubsan.c:68:5",
			last:     "================================================================================",
			nexcerpt: 10, verdict: 0},
		{log: "warning.log", kinds: []Kind{Init, Warning, Verdict}, crash: true, worst: Warning,
			line:     "WARNING: CPU: 0 PID: 58 at fs/rapido/demo.c:42 demo_write+0x3e/0x50",
			last:     "---[ end trace 0000000000000000 ]---",
			nexcerpt: 13, verdict: 0},
		{log: "warning-then-bug.log", kinds: []Kind{Init, Warning, Bug}, crash: true, worst: Bug,
			line:     "kernel BUG at mm/slub.c:321!",
			last:     "---[ end trace 0000000000000001 ]---",
			nexcerpt: 4, verdict: -1},
		{log: "soft-lockup.log", kinds: []Kind{Init, Bug}, crash: true, worst: Bug,
			line:     "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:57]",
			last:     "</TASK>",
			nexcerpt: 8, verdict: -1},
		// CONFIG_PRINTK_CALLER adds "[  T57]" after the time stamp.
		{log: "printk-caller.log", kinds: []Kind{Init, Oops, Bug}, crash: true, worst: Bug,
			line:     "BUG: kernel NULL pointer dereference, address: 0000000000000008",
			last:     "---[ end trace 0000000000000000 ]---",
			nexcerpt: 4, verdict: -1},
	} {
		t.Run(tc.log, func(t *testing.T) {
			evs := scanFile(t, tc.log)
			if got := kinds(evs); !slices.Equal(got, tc.kinds) {
				t.Errorf("event kinds = %v; want %v", got, tc.kinds)
			}
			w, ok := Worst(evs)
			if ok != tc.crash {
				t.Fatalf("Worst = %+v, %v; want crash %v", w, ok, tc.crash)
			}
			if ok {
				if w.Kind != tc.worst || w.Line != tc.line {
					t.Errorf("Worst = %s %q; want %s %q", w.Kind, w.Line, tc.worst, tc.line)
				}
				if len(w.Excerpt) != tc.nexcerpt || w.Excerpt[0] != tc.line || strings.TrimSpace(w.Excerpt[len(w.Excerpt)-1]) != tc.last {
					t.Errorf("excerpt (%d lines) = %q; want %d lines from %q to %q", len(w.Excerpt), w.Excerpt, tc.nexcerpt, tc.line, tc.last)
				}
				for _, l := range w.Excerpt {
					if stamp.MatchString(l) || strings.HasPrefix(l, "[") || strings.HasSuffix(l, "\r") {
						t.Errorf("excerpt line %q keeps its time stamp or CR", l)
					}
				}
				if !w.Crash() {
					t.Errorf("Worst().Crash() = false")
				}
			}
			got := -1
			for _, e := range evs {
				if e.Kind == Verdict {
					got = e.ExitCode
				}
			}
			if got != tc.verdict {
				t.Errorf("verdict exit = %d; want %d", got, tc.verdict)
			}
		})
	}
}

func TestLineNumbers(t *testing.T) {
	evs := scanFile(t, "oops.log")
	want := map[Kind]int{Init: 2, Bug: 3, Oops: 7, Panic: 25}
	for _, e := range evs {
		if e.LineNo != want[e.Kind] {
			t.Errorf("%s at line %d; want %d", e.Kind, e.LineNo, want[e.Kind])
		}
	}
}

func TestScannerIncremental(t *testing.T) {
	// Feeding lines one by one, as the host does while following the
	// console, gives what Scan gives on the whole file.
	b, _ := os.ReadFile("testdata/oops.log")
	var s Scanner
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		s.Line(l)
	}
	got, want := s.Finish(), Scan(bytes.NewReader(b))
	if len(got) != len(want) {
		t.Fatalf("incremental %v; whole %v", kinds(got), kinds(want))
	}
	for i := range got {
		if got[i].Kind != want[i].Kind || got[i].Line != want[i].Line || !slices.Equal(got[i].Excerpt, want[i].Excerpt) {
			t.Errorf("event %d: %+v vs %+v", i, got[i], want[i])
		}
	}
}

func TestVerdictLines(t *testing.T) {
	for line, want := range map[string]int{
		"rapido-verdict: exit=0":                 0,
		"rapido-verdict: exit=137":               137,
		"[    1.000000] rapido-verdict: exit=-1": -1,
		"rapido-verdict: exit=1\r":               1,
	} {
		var s Scanner
		s.Line(line)
		evs := s.Finish()
		if len(evs) != 1 || evs[0].Kind != Verdict || evs[0].ExitCode != want {
			t.Errorf("Line(%q) = %+v; want verdict exit %d", line, evs, want)
		}
	}
	for _, line := range []string{"echo rapido-verdict: exit=0", "rapido-verdict: exit=", "rapido-init: started"} {
		var s Scanner
		s.Line(line)
		if evs := s.Finish(); len(evs) != 0 {
			t.Errorf("Line(%q) = %+v; want nothing", line, evs)
		}
	}
}

// TestExcerptBounded: a report without an end marker stops collecting at
// maxExcerpt lines, and a verdict closes an open report.
func TestExcerptBounded(t *testing.T) {
	var s Scanner
	s.Line("[    1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100")
	for i := 0; i < 100; i++ {
		s.Line("[    1.1]  frame")
	}
	s.Line("rapido-verdict: exit=0")
	s.Line("WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x1")
	evs := s.Finish()
	if got := kinds(evs); !slices.Equal(got, []Kind{Panic, Verdict, Warning}) {
		t.Fatalf("kinds = %v", got)
	}
	if len(evs[0].Excerpt) != maxExcerpt {
		t.Errorf("excerpt has %d lines; want %d", len(evs[0].Excerpt), maxExcerpt)
	}
	if len(evs[2].Excerpt) != 1 {
		t.Errorf("report open at the end: excerpt %q; want its one line", evs[2].Excerpt)
	}
}

func TestWorstEmpty(t *testing.T) {
	if _, ok := Worst(nil); ok {
		t.Error("Worst(nil) reported a crash")
	}
	if _, ok := Worst([]Event{{Kind: Init}, {Kind: Verdict}}); ok {
		t.Error("Worst(init, verdict) reported a crash")
	}
}
