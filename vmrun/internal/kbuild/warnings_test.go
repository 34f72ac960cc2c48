package kbuild

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func tally(lines ...string) *warningTally {
	t := newWarningTally()
	for _, l := range lines {
		t.line(l)
	}
	return t
}

func TestWarningsAddedPerCommit(t *testing.T) {
	// The base: a cold build records its warnings, none are new.
	base := tally(
		"  CC      kernel/fork.o",
		"kernel/fork.c:10:5: warning: unused variable 'x' [-Wunused-variable]",
		"  CC      lib/sort.o",
		"include/linux/k.h:3:1: warning: 'inline' is not at beginning [-Wold-style-declaration]",
	)
	rec, added := base.merge(warningRecord{}, false)
	if added != nil {
		t.Fatalf("first build reported new warnings %q", added)
	}
	// An edit above the known warning moves it: not new. A second warning
	// in the same file is.
	c1 := tally(
		"  CC      kernel/fork.o",
		"kernel/fork.c:12:5: warning: unused variable 'x' [-Wunused-variable]",
		"kernel/fork.c:40:2: warning: unused variable 'y' [-Wunused-variable]",
		"include/linux/k.h:3:1: warning: 'inline' is not at beginning [-Wold-style-declaration]",
	)
	rec, added = c1.merge(rec, true)
	want := []string{"kernel/fork.c:40:2: warning: unused variable 'y' [-Wunused-variable]"}
	if !reflect.DeepEqual(added, want) {
		t.Errorf("added = %q, want %q", added, want)
	}
	// A commit that does not recompile fork.c keeps its warnings on record
	// and adds nothing.
	c2 := tally("  CC      mm/slab.o")
	rec, added = c2.merge(rec, true)
	if len(added) != 0 || len(rec["kernel/fork.c"]) != 2 {
		t.Errorf("added %q, fork.c record %q", added, rec["kernel/fork.c"])
	}
	// A fix that recompiles fork.c clean drops its warnings; bringing one
	// back counts as new again.
	rec, _ = tally("  CC      kernel/fork.o").merge(rec, true)
	if _, ok := rec["kernel/fork.c"]; ok {
		t.Errorf("fixed file still on record: %q", rec["kernel/fork.c"])
	}
	_, added = tally("  CC      kernel/fork.o", "kernel/fork.c:12:5: warning: unused variable 'x' [-Wunused-variable]").merge(rec, true)
	if len(added) != 1 {
		t.Errorf("reintroduced warning not new: %q", added)
	}
}

func TestParseWarning(t *testing.T) {
	for l, want := range map[string]string{
		"kernel/fork.c:10:5: warning: unused":       "kernel/fork.c|unused",
		"  arch/x86/boot/a.S:3: warning: something": "arch/x86/boot/a.S|something",
		"kernel/fork.c:10:5: error: boom":           "",
		"ld: warning: creating DT_TEXTREL":          "",
	} {
		f, text, ok := parseWarning(l)
		got := ""
		if ok {
			got = f + "|" + text
		}
		if got != want {
			t.Errorf("parseWarning(%q) = %q, want %q", l, got, want)
		}
	}
}

func TestRenderLine(t *testing.T) {
	for _, tc := range []struct {
		objects, expect int
		want            string
	}{
		{5, 0, "build: build, 5 objects, 1m0s, fs/x.o"},
		{5, 100, "build: build, 5/100 objects (5%), 1m0s, fs/x.o"},
		{25, 100, "build: build, 25/100 objects (25%), 1m0s, ~3m0s left, fs/x.o"},
		{120, 100, "build: build, 120 objects, 1m0s, fs/x.o"},
	} {
		if got := renderLine("build", tc.objects, tc.expect, "fs/x.o", time.Minute); got != tc.want {
			t.Errorf("renderLine(%d/%d) = %q, want %q", tc.objects, tc.expect, got, tc.want)
		}
	}
}

// Off a terminal, a silent phase still gets a line every progressEvery, so
// a CI log shows the build is alive.
func TestProgressTicksInLogs(t *testing.T) {
	old := progressEvery
	progressEvery = 20 * time.Millisecond
	defer func() { progressEvery = old }()
	var buf syncBuffer
	p := newProgress(&buf, false, time.Now())
	p.phase("build")
	p.line("  CC      kernel/fork.o")
	time.Sleep(120 * time.Millisecond)
	p.done()
	out := buf.String()
	if n := strings.Count(out, "build: build, 1 objects,"); n < 2 {
		t.Errorf("%d periodic lines in:\n%s", n, out)
	}
	if !strings.Contains(out, "kernel/fork.o") {
		t.Errorf("no current file in:\n%s", out)
	}
	// After done, nothing more is printed.
	n := len(buf.String())
	time.Sleep(60 * time.Millisecond)
	if len(buf.String()) != n {
		t.Error("progress printed after done")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
