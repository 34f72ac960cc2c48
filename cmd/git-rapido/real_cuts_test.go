package main

// The real tier for contrib/cuts: each cut booted on the real kernel, in one
// persistent work clone ("real-cuts") whose rapido.kconfig is the union of
// what the cuts ask for, so that switching cuts never rebuilds much.

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// cutsKconfig returns the union of the kconfig items of contrib/cuts, plus
// what the storage tier's crash test (SysRq) needs (the shares' 9p and
// virtiofs are in the built-in fragment): the cuts, storage and share
// tiers share one clone and one kernel, so a fresh machine builds it once.
func cutsKconfig(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.cut"))
	items := append(kconfigOf(t, files), "CONFIG_MAGIC_SYSRQ=y")
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		if !seen[it] {
			seen[it] = true
			out = append(out, it)
		}
	}
	sort.Strings(out)
	return out
}

// kconfigOf returns the union of the kconfig items of the manifests files.
func kconfigOf(t *testing.T, files []string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 1 && fs[0] == "kconfig" {
				for _, it := range fs[1:] {
					seen[it] = true
				}
			}
		}
		fh.Close()
	}
	var out []string
	for it := range seen {
		out = append(out, it)
	}
	sort.Strings(out)
	return out
}

// setupRealCuts points the real-cuts clone at contrib/cuts with the union
// kernel configuration.
func setupRealCuts(t *testing.T) (*realEnv, string) {
	r := requireReal(t, "real-cuts")
	root, _ := filepath.Abs("../..")
	cuts := filepath.Join(root, "contrib/cuts")
	r.setConfig(t, "rapido.kconfig", cutsKconfig(t, cuts)...)
	r.mustRun(t, r.clone, "git", "config", "rapido.cutPath", cuts)
	r.mustRun(t, r.clone, "git", "config", "rapido.timeout", "5m")
	r.setConfig(t, "rapido.fstests.src")
	return r, cuts
}

var logsLine = regexp.MustCompile(`(?m)^rapido: logs in (.*)$`)

// runCut boots a cut and returns its exit code, stderr and console log.
func (r *realEnv) runCut(t *testing.T, name string, args ...string) (int, string, string) {
	t.Helper()
	start := time.Now()
	_, stderr, code := r.run(r.clone, r.bin, append([]string{"run", "--timings", "--accel", "tcg", "--cut", name}, args...)...)
	t.Logf("--cut %s: exit %d in %s\n%s", name, code, time.Since(start).Round(time.Millisecond), stderr)
	console := ""
	if m := logsLine.FindStringSubmatch(stderr); m != nil {
		b, _ := os.ReadFile(filepath.Join(m[1], "console.log"))
		console = string(b)
	}
	return code, stderr, console
}

// TestRealCuts boots each CI-able cut and checks its own success line; for
// multipath also the host side of the failover: the hook removed the path
// through QMP, and QEMU's disk image is gone afterwards.
func TestRealCuts(t *testing.T) {
	r, _ := setupRealCuts(t)
	for _, tc := range []struct {
		cut     string
		console string // the cut's own success line
		check   func(t *testing.T, logDir, console string)
	}{
		{"fstests-smoke", `fstests-smoke: ext4 passed \(4 MiB written, read back identical, fsck clean\)`, nil},
		{"usb-gadget", `usb-gadget: 4 MiB written through USB read back identically`, nil},
		{"kselftest", `kselftest: all [1-9]\d* tests passed`, nil},
		{"multipath", `multipath: I/O survived the failover \(\d+ passes, data identical\)`, func(t *testing.T, logDir, console string) {
			hook, _ := os.ReadFile(filepath.Join(logDir, "hook-1-multipath-hook.sh.log"))
			if !strings.Contains(string(hook), "multipath-hook: path1 removed") {
				t.Errorf("hook log lacks the removal:\n%s", hook)
			}
			if _, err := os.Stat(filepath.Join(logDir, "multipath.img")); err == nil {
				t.Error("the disk image outlived the run")
			}
			if !regexp.MustCompile(`multipath: a path failed after \d+ passes`).MatchString(console) {
				t.Error("the guest never saw a path fail")
			}
		}},
	} {
		t.Run(tc.cut, func(t *testing.T) {
			code, stderr, console := r.runCut(t, tc.cut)
			if code != 0 || !strings.Contains(stderr, "rapido: pass ") {
				t.Fatalf("--cut %s exited %d, want a pass\n%s", tc.cut, code, console)
			}
			if !regexp.MustCompile(tc.console).MatchString(console) {
				t.Errorf("--cut %s: console lacks %q\n%s", tc.cut, tc.console, console)
			}
			if tc.check != nil {
				tc.check(t, logsLine.FindStringSubmatch(stderr)[1], console)
			}
		})
	}
}

// TestRealCutsFstestsLocal runs fstests-local without a checkout (a clear
// message, exit 128, nothing booted) and with a stand-in checkout whose
// ./check reports what the cut set up.
func TestRealCutsFstestsLocal(t *testing.T) {
	r, _ := setupRealCuts(t)
	code, stderr, _ := r.runCut(t, "fstests-local")
	if code != 128 || !strings.Contains(stderr, "rapido.fstests.src is not set (git config rapido.fstests.src <value>)") {
		t.Errorf("fstests-local without rapido.fstests.src: exit %d, want 128 naming the key\n%s", code, stderr)
	}
	src := t.TempDir()
	check := `#!/bin/sh
# A stand-in for fstests' ./check: prove the devices and config are usable.
. "configs/$(hostname).config"
echo "fake-check: args=$* FSTYP=$FSTYP TEST_DEV=$TEST_DEV SCRATCH_DEV=$SCRATCH_DEV"
mount -t "$FSTYP" "$TEST_DEV" "$TEST_DIR" || exit 1
echo data >"$TEST_DIR/f" && sync && umount "$TEST_DIR" || exit 1
[ -b "$SCRATCH_DEV" ] || exit 1
echo "fake-check: Passed all 1 tests"
`
	if err := os.WriteFile(filepath.Join(src, "check"), []byte(check), 0o755); err != nil {
		t.Fatal(err)
	}
	r.mustRun(t, r.clone, "git", "config", "rapido.fstests.src", src)
	r.mustRun(t, r.clone, "git", "config", "rapido.fstests.tests", "generic/001")
	r.mustRun(t, r.clone, "git", "config", "rapido.fstests.size", "256M")
	defer r.run(r.clone, "git", "config", "--remove-section", "rapido.fstests")
	code, _, console := r.runCut(t, "fstests-local")
	if code != 0 {
		t.Fatalf("fstests-local with a checkout exited %d\n%s", code, console)
	}
	want := `fake-check: args=generic/001 FSTYP=ext4 TEST_DEV=/dev/zram0 SCRATCH_DEV=/dev/zram1`
	if !strings.Contains(console, want) || !strings.Contains(console, "fake-check: Passed all 1 tests") {
		t.Errorf("console lacks %q\n%s", want, console)
	}
}
