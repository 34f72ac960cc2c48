package main

// The real tier: a kernel really built from Debian's linux-source-6.1 and
// really booted in QEMU (TCG). "make test" runs it with RAPIDO_KERNEL_REPO
// (the prepared repository), RAPIDO_BIN (the static git-rapido) and
// RAPIDO_REQUIRE_REAL=1, which turns a missing prerequisite into a failure
// instead of a skip.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// realEnv is what a real-tier test needs: the binary, and a working clone
// of the kernel repository at a fixed path (so its build stays warm).
type realEnv struct {
	bin   string
	clone string
	env   []string
}

func requireReal(t *testing.T, clone string) *realEnv {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("RAPIDO_REQUIRE_REAL") == "1" {
			t.Fatalf("real tier required but %s", why)
		}
		t.Skipf("SKIPPING THE REAL-KERNEL TIER: %s (run 'make test-real')", why)
	}
	if os.Getenv("RAPIDO_KERNEL_REPO") == "" {
		missing("RAPIDO_KERNEL_REPO is not set")
	}
	bin := os.Getenv("RAPIDO_BIN")
	if bin == "" {
		missing("RAPIDO_BIN is not set")
	}
	for _, tool := range []string{"qemu-system-x86_64", "busybox", "make", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool + " is not installed")
		}
	}
	root, _ := filepath.Abs("../..")
	home := t.TempDir()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		h, _ := os.UserHomeDir()
		cache = filepath.Join(h, ".cache")
	}
	env := append(os.Environ(),
		"HOME="+home, "XDG_CACHE_HOME="+cache, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Real Tier", "GIT_AUTHOR_EMAIL=real@example.org",
		"GIT_COMMITTER_NAME=Real Tier", "GIT_COMMITTER_EMAIL=real@example.org",
		"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	r := &realEnv{bin: bin, env: env}
	out := r.mustRun(t, root, filepath.Join(root, "contrib/kernel/work-clone.sh"), clone)
	r.clone = strings.TrimSpace(out)
	return r
}

func (r *realEnv) run(dir, name string, args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, r.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		e.WriteString(err.Error())
	}
	return o.String(), e.String(), code
}

func (r *realEnv) mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, errOut, code := r.run(dir, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, errOut)
	}
	return out
}

// setConfig makes the multi-valued key hold exactly values in the work
// clone. A fresh clone has nothing to unset, which git config reports with
// exit 5: that is the only failure let through.
func (r *realEnv) setConfig(t *testing.T, key string, values ...string) {
	t.Helper()
	if _, errOut, code := r.run(r.clone, "git", "config", "--unset-all", key); code != 0 && code != 5 {
		t.Fatalf("git config --unset-all %s: exit %d\n%s", key, code, errOut)
	}
	for _, v := range values {
		r.mustRun(t, r.clone, "git", "config", "--add", key, v)
	}
}

// versionTest is the fixtures' userspace check: the regression prefixes
// /proc/version with "rapido-regressed ".
var versionTest = []string{"--", "sh", "-c", `grep -q "^Linux version" /proc/version`}

// TestRealRun builds and boots four fixture commits on the real kernel and
// checks each exit code and reason: pass (0), a userspace-visible
// regression (1), a panic at boot (2), a compile error (125).
func TestRealRun(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "fixtures")
	for _, tc := range []struct {
		fixture string
		code    int
		reason  string
	}{
		{"fixture/pass", 0, `rapido: pass 6\.1\.\S+ — test passed`},
		{"fixture/regress", 1, `rapido: fail .*test exited 1 `},
		{"fixture/panic", 2, `rapido: crash .*Kernel panic - not syncing: rapido fixture: boot panic`},
		{"fixture/nobuild", 125, `rapido: build-fail .*fs/proc/cmdline\.c:\d+:\d+: error: expected expression`},
	} {
		t.Run(strings.TrimPrefix(tc.fixture, "fixture/"), func(t *testing.T) {
			r.mustRun(t, r.clone, "git", "checkout", "-q", "--detach", tc.fixture)
			start := time.Now()
			_, stderr, code := r.run(r.clone, r.bin, append([]string{"run", "--timings", "--accel", "auto"}, versionTest...)...)
			t.Logf("%s: exit %d in %s\n%s", tc.fixture, code, time.Since(start).Round(time.Millisecond), stderr)
			if code != tc.code {
				t.Errorf("git rapido run on %s exited %d, want %d", tc.fixture, code, tc.code)
			}
			if !regexp.MustCompile(tc.reason).MatchString(stderr) {
				t.Errorf("git rapido run on %s: stderr lacks %q", tc.fixture, tc.reason)
			}
			// Auto-detection settles on an accelerator that really booted
			// the guest, and --timings names it.
			if boot := `timings: build .*, kernel boot \S+ \((kvm|tcg)\), init `; tc.code != 125 && !regexp.MustCompile(boot).MatchString(stderr) {
				t.Errorf("git rapido run --timings on %s: stderr lacks %q", tc.fixture, boot)
			}
		})
	}
}

// TestRealCannotTest: a test program that is not in the image exits 127 in
// the real guest, which is "cannot test" (exit 128, for that reason), not a
// fail of the kernel, and leaves no verdict in the cache.
func TestRealCannotTest(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "fixtures")
	r.mustRun(t, r.clone, "git", "checkout", "-q", "--detach", "fixture/pass")
	t.Run("not-found", func(t *testing.T) {
		// TCG: what is tested is the guest's exit code, not the
		// accelerator (a host whose KVM aborts QEMU would answer 128
		// for another reason).
		_, stderr, code := r.run(r.clone, r.bin, "test", "--no-trailer", "--accel", "tcg", "--", "/no/such/program")
		t.Logf("exit %d\n%s", code, stderr)
		if code != 128 {
			t.Errorf("git rapido test --no-trailer -- /no/such/program exited %d, want 128", code)
		}
		if want := `rapido: infra .*cannot test: the test program was not found in the guest \(exit 127\)`; !regexp.MustCompile(want).MatchString(stderr) {
			t.Errorf("stderr lacks %q", want)
		}
		if out, _, _ := r.run(r.clone, "git", "notes", "--ref=rapido", "show", "HEAD^{tree}"); strings.Contains(out, "cannot test") {
			t.Errorf("the cannot-test verdict was cached:\n%s", out)
		}
	})
}
