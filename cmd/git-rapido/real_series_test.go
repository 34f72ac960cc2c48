package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRealSeries: "git rapido test --jobs 2 --keep-going" over the first
// three commits of the demo series (the third regresses /proc/version) on
// the real kernel, in two job slots seeded from the work clone's build: two
// passes and a failure, exit 1, HEAD and the worktree untouched, every
// slot's first build incremental (seeded, not cold), and the same range
// again answered from the cache.
func TestRealSeries(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "demo")
	// The build the slots are seeded from, configured for the same test
	// (HEAD regresses: the run's verdict does not matter here).
	if _, stderr, code := r.run(r.clone, "git", append([]string{"rapido", "run"}, versionTest...)...); code != 0 && code != 1 {
		t.Fatalf("warm-up run: exit %d\n%s", code, stderr)
	}
	r.run(r.clone, "git", "update-ref", "-d", "refs/notes/rapido")
	r.mustRun(t, r.clone, "git", "rapido", "test", "--remove-slots")
	t.Cleanup(func() { r.run(r.clone, "git", "rapido", "test", "--remove-slots") })
	head := r.mustRun(t, r.clone, "git", "rev-parse", "HEAD")

	args := append([]string{"rapido", "test", "--jobs", "2", "--keep-going", "--json", "v6.1..demo~1"}, versionTest...)
	start := time.Now()
	stdout, stderr, code := r.run(r.clone, "git", args...)
	t.Logf("test --jobs 2 over 3 commits: exit %d in %s\n%s", code, time.Since(start).Round(time.Second), stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the third commit regresses)\n%s", code, stdout)
	}
	var rep struct {
		Verdict string
		Commits []struct {
			Subject, Verdict string
			LogDir           string        `json:"log_dir"`
			Duration         time.Duration `json:"duration_ns"`
			Slot             int
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	var got []string
	slots := map[int]bool{}
	for _, c := range rep.Commits {
		got = append(got, c.Verdict)
		slots[c.Slot] = true
	}
	if strings.Join(got, " ") != "pass pass fail" || rep.Verdict != "fail" {
		t.Errorf("verdicts %q (worst %q), want pass pass fail", got, rep.Verdict)
	}
	if len(slots) != 2 {
		t.Errorf("slots used: %v, want 2", slots)
	}
	if n := strings.Count(stderr, "build directory seeded from"); n != 2 {
		t.Errorf("%d slots seeded, want 2", n)
	}
	// A seeded slot builds incrementally: a cold build compiles hundreds
	// of objects, one fixture commit a handful.
	for _, c := range rep.Commits {
		b, err := os.ReadFile(filepath.Join(c.LogDir, "build.log"))
		if err != nil {
			t.Errorf("%s: %v", c.Subject, err)
			continue
		}
		cc := strings.Count(string(b), "  CC  ")
		t.Logf("%s: slot %d compiled %d object(s); build and boot took %s", c.Subject, c.Slot, cc, c.Duration.Round(time.Second))
		if cc > 50 {
			t.Errorf("%s: slot %d compiled %d objects: not incremental", c.Subject, c.Slot, cc)
		}
	}
	if now := r.mustRun(t, r.clone, "git", "rev-parse", "HEAD"); now != head {
		t.Errorf("HEAD moved from %s to %s", head, now)
	}
	if st := r.mustRun(t, r.clone, "git", "status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Errorf("worktree changed: %s", st)
	}

	// Again: every verdict from the cache, no slot used.
	stdout, stderr, code = r.run(r.clone, "git", append([]string{"rapido", "test", "--keep-going", "v6.1..demo~1"}, versionTest...)...)
	if code != 1 || !strings.Contains(stdout, "(3 from the cache)") || strings.Contains(stderr, "slot ") {
		t.Errorf("second run: exit %d\n%s%s", code, stdout, stderr)
	}
}
