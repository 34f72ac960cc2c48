package main

// This file is not named real_arm64_test.go: Go would build that name for
// arm64 hosts only.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealArm64 boots arm64 kernels on this (x86_64) host: cross-built
// with Debian's gcc-aarch64-linux-gnu, emulated by qemu-system-aarch64 on
// the virt machine (TCG, which auto picks for a foreign guest), with the
// guest init built for arm64 and busybox from an arm64 sysroot unpacked
// from Debian's packages (contrib/sysroot/debian.sh). Its own work
// directory keeps the arm64 build warm without disturbing the x86 ones.
// The boot cut passes (0); the fixtures give a failing test (1), a panic
// at boot (2) and a compile error (125).
func TestRealArm64(t *testing.T) {
	for _, tool := range []string{"qemu-system-aarch64", "aarch64-linux-gnu-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("RAPIDO_REQUIRE_REAL") == "1" {
				t.Fatalf("real tier required but %s is not installed (make deps)", tool)
			}
			t.Skipf("SKIPPING THE ARM64 REAL TIER: %s is not installed (make deps)", tool)
		}
	}
	r := requireReal(t, "real-arm64")
	if _, err := os.Stat(filepath.Join(filepath.Dir(r.bin), "rapido-init-arm64")); err != nil {
		t.Fatalf("no rapido-init-arm64 next to %s: run make build (%v)", r.bin, err)
	}
	root, _ := filepath.Abs("../..")
	sysroot := strings.TrimSpace(r.mustRun(t, root, filepath.Join(root, "contrib/sysroot/debian.sh"), "arm64"))
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "fixtures")
	r.setConfig(t, "rapido.arch", "arm64")
	r.setConfig(t, "rapido.sysroot", sysroot)
	for _, tc := range []struct {
		name, fixture string
		test          []string
		code          int
		reason        string
	}{
		{"boot", "fixture/pass", nil, 0, `rapido: pass 6\.1\.\S+ — test passed`},
		{"regress", "fixture/regress", versionTest, 1, `rapido: fail .*test exited 1 `},
		{"panic", "fixture/panic", versionTest, 2, `rapido: crash .*Kernel panic - not syncing: rapido fixture: boot panic`},
		{"nobuild", "fixture/nobuild", versionTest, 125, `rapido: build-fail .*fs/proc/cmdline\.c:\d+:\d+: error: expected expression`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.mustRun(t, r.clone, "git", "checkout", "-q", "--detach", tc.fixture)
			start := time.Now()
			_, stderr, code := r.run(r.clone, r.bin, append([]string{"run", "--timings"}, tc.test...)...)
			t.Logf("arm64 %s: exit %d in %s\n%s", tc.fixture, code, time.Since(start).Round(time.Millisecond), stderr)
			if code != tc.code {
				t.Errorf("git rapido run on %s (arm64) exited %d, want %d", tc.fixture, code, tc.code)
			}
			if !regexp.MustCompile(tc.reason).MatchString(stderr) {
				t.Errorf("git rapido run on %s (arm64): stderr lacks %q", tc.fixture, tc.reason)
			}
			// auto never tries KVM for a foreign guest.
			if boot := `timings: build .*, kernel boot \S+ \(tcg\), init `; tc.code != 125 && !regexp.MustCompile(boot).MatchString(stderr) {
				t.Errorf("git rapido run --timings on %s (arm64): stderr lacks %q", tc.fixture, boot)
			}
			if strings.Contains(stderr, "trying KVM") {
				t.Errorf("auto tried KVM for an arm64 guest:\n%s", stderr)
			}
		})
	}
	// The guest really was arm64: its console says so.
	logs, _ := filepath.Glob(filepath.Join(r.clone, ".git/rapido/logs/*/console.log"))
	arm := false
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil && regexp.MustCompile(`Machine model: linux,dummy-virt|aarch64`).Match(b) {
			arm = true
		}
	}
	if !arm {
		t.Errorf("no console log under %s/.git/rapido/logs shows an arm64 machine", r.clone)
	}
}
