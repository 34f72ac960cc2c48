package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRealRebase is the workflow the project exists for, on the real
// kernel: a rebase with "exec git rapido test" after each pick over a
// 4-commit series whose third commit regresses /proc/version. Passing
// commits get exactly one Tested-by, the rebase stops at the regression
// with exit 1; after a fix and "git rebase --continue" the rest are
// tagged. A second rebase that rewrites every commit without changing code
// is answered from the cache: no build, no boot.
func TestRealRebase(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "demo")
	testCmd := `git rapido test -- sh -c 'grep -q "^Linux version" /proc/version'`

	_, stderr, code := r.run(r.clone, "git", "-c", "sequence.editor=:", "rebase", "-i", "--reschedule-failed-exec", "--exec", testCmd, "v6.1")
	t.Logf("first rebase: exit %d\n%s", code, stderr)
	if code != 1 {
		t.Fatalf("rebase over a regressing series exited %d, want 1", code)
	}
	if got := strings.TrimSpace(r.mustRun(t, r.clone, "git", "log", "-1", "--format=%s")); got != "proc/version: brand the version banner" {
		t.Fatalf("the rebase stopped at %q, want the regressing commit", got)
	}
	tagged := r.mustRun(t, r.clone, "git", "log", "--format=%(trailers:key=Tested-by,valueonly)%x00", "v6.1..HEAD")
	if n := strings.Count(tagged, "Rapido Test <rapido@example.org>"); n != 2 {
		t.Errorf("before the stop, %d commits carry Tested-by, want 2:\n%s", n, tagged)
	}

	// Fix the regression in place and continue: the failed exec runs again.
	r.mustRun(t, r.clone, "git", "checkout", "HEAD~1", "--", "fs/proc/version.c")
	r.mustRun(t, r.clone, "sh", "-c", "echo '/* keep the banner as userspace parses it */' >>fs/proc/version.c")
	r.mustRun(t, r.clone, "git", "commit", "-q", "-a", "--amend", "-m", "proc/version: document the banner")
	_, stderr, code = r.run(r.clone, "git", "rebase", "--continue")
	t.Logf("continue: exit %d\n%s", code, stderr)
	if code != 0 {
		t.Fatalf("git rebase --continue exited %d", code)
	}
	out := r.mustRun(t, r.clone, "git", "log", "--format=%s%x09%(trailers:key=Tested-by,valueonly,separator=%x2C)", "v6.1..HEAD")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(l, "\tRapido Test <rapido@example.org>") {
			t.Errorf("commit without exactly one Tested-by: %q", l)
		}
	}

	// Rewrite all four commits, code unchanged: every verdict is cached.
	start := time.Now()
	_, stderr, code = r.run(r.clone, "git", "-c", "sequence.editor=:", "rebase", "-i", "-f", "--exec", testCmd, "v6.1")
	t.Logf("reword-only rebase: exit %d in %s\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
	if code != 0 {
		t.Fatalf("second rebase exited %d", code)
	}
	if n := strings.Count(stderr, "rapido: pass (cached)"); n != 4 {
		t.Errorf("%d cached verdicts in the second rebase, want 4", n)
	}
	if strings.Contains(stderr, "build: build") || strings.Contains(stderr, "boot: ") {
		t.Errorf("the second rebase built or booted")
	}

	// The series' report from those verdicts: the real kernel release, the
	// accelerator and the spec in words, and a reply ending in Tested-by.
	report := r.mustRun(t, r.clone, r.bin, "report", "v6.1..HEAD")
	t.Logf("git rapido report:\n%s", report)
	for _, want := range []string{"4 commit(s): 4 passed.", "- Kernel release: 6.1", "- Accelerator: tcg", "  - cut: "} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if n := strings.Count(report, "| pass ("); n != 4 {
		t.Errorf("the report shows %d passes, want 4", n)
	}
	reply := r.mustRun(t, r.clone, r.bin, "report", "--format=mail", "--in-reply-to", "<cover.demo@example.org>", "--subject", "[PATCH 0/4] demo", "v6.1..HEAD")
	if !strings.HasSuffix(reply, "\nTested-by: Rapido Test <rapido@example.org>\n") || strings.Count(reply, "Tested-by:") != 1 {
		t.Errorf("the reply does not end in one Tested-by:\n%s", reply)
	}
}

// TestRealBisect: a 12-commit series where commit 4 does not compile and
// commit 8 regresses. The culprit is found, commit 4 is skipped if met, with
// at most ceil(log2 12)+2 builds; the same bisect again takes no build.
func TestRealBisect(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "bisect")
	args := append([]string{"bisect", "--json", "bisect", "v6.1"}, versionTest...)
	var culprit string
	for round := 1; round <= 2; round++ {
		start := time.Now()
		stdout, stderr, code := r.run(r.clone, r.bin, args...)
		took := time.Since(start)
		t.Logf("bisect round %d: exit %d in %s\n%s", round, code, took.Round(time.Millisecond), stderr)
		if code != 0 {
			t.Fatalf("git rapido bisect exited %d\n%s", code, stdout)
		}
		var rep struct {
			Culprit, Subject string
			Builds           int
			Steps            []struct{ Commit, Status, Role string }
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("bisect --json: %v\n%s", err, stdout)
		}
		if rep.Subject != "bisect fixture 8" {
			t.Errorf("culprit %q, want bisect fixture 8", rep.Subject)
		}
		for _, s := range rep.Steps {
			if s.Status == "build-fail" {
				t.Logf("skipped %s (does not build), as it should be", s.Commit)
			}
		}
		limit := int(math.Ceil(math.Log2(12))) + 2
		t.Logf("round %d: %d steps, %d builds (limit %d), %s", round, len(rep.Steps), rep.Builds, limit, took.Round(time.Millisecond))
		switch round {
		case 1:
			culprit = rep.Culprit
			if rep.Builds > limit {
				t.Errorf("%d builds, want at most %d", rep.Builds, limit)
			}
		case 2:
			if rep.Builds != 0 || rep.Culprit != culprit {
				t.Errorf("repeat bisect: %d builds, culprit %s; want 0 builds and %s", rep.Builds, rep.Culprit, culprit)
			}
		}
	}
	if head := strings.TrimSpace(r.mustRun(t, r.clone, "git", "symbolic-ref", "--short", "HEAD")); head != "bisect" {
		t.Errorf("after the bisect HEAD is %q, want the bisect branch back", head)
	}
}
