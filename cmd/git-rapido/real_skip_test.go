package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealBuildSkip on the real kernel: (a) a Documentation/ commit reuses
// the built kernel without make; (b) that kernel is the one make gives for
// the commit: raw make with the same command line in the same build
// directory finds nothing to do, and bzImage, vmlinux and the release stay
// byte for byte what the skip reused ("same kernel" is that: a fresh build
// in another directory differs in its build timestamp and #N counter
// anyway); (c) a change to a .c file in the build runs make.
func TestRealBuildSkip(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "fixtures")
	r.mustRun(t, r.clone, "git", "checkout", "-q", "-B", "rapido-skip", "fixture/pass")
	build := filepath.Join(r.clone, ".git/rapido/build")
	run := func(what string) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		_, stderr, code := r.run(r.clone, r.bin, append([]string{"run", "--timings"}, versionTest...)...)
		d := time.Since(start)
		t.Logf("%s: exit %d in %s\n%s", what, code, d.Round(time.Millisecond), stderr)
		if code != 0 || !regexp.MustCompile(`rapido: pass 6\.1\.\S+ — test passed`).MatchString(stderr) {
			t.Fatalf("%s: git rapido run exited %d, want a pass", what, code)
		}
		return stderr, d
	}
	commit := func(file, line, subject string) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(r.clone, file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line)
		f.Close()
		r.mustRun(t, r.clone, "git", "commit", "-q", "-a", "-m", subject)
	}

	// The tree to start from is built (incrementally: make runs, even if
	// an earlier run recorded this tree) and recorded.
	os.Remove(filepath.Join(build, ".rapido-built"))
	first, _ := run("build fixture/pass")
	if _, err := os.Stat(filepath.Join(build, ".rapido-built")); err != nil {
		t.Fatalf("no record of the build: %v", err)
	}
	argv := makeArgv(t, first)
	// A run that boots vmlinux (the fast path) makes no bzImage.
	if a := strings.Join(argv, " "); !regexp.MustCompile(` vmlinux( modules)?$`).MatchString(a) || strings.Contains(a, "bzImage") {
		t.Errorf("a run booting vmlinux ran make %s; want make vmlinux only", a)
	}

	// (a) A docs-only commit: no make.
	commit("Documentation/process/howto.rst", "\nrapido: a docs-only change.\n", "docs: reword")
	skipped, _ := run("docs-only commit")
	if !regexp.MustCompile(`(?m)^build skipped: no kernel input changed$`).MatchString(skipped) ||
		!regexp.MustCompile(`timings: build \S+ \(build skipped: no kernel input changed\)`).MatchString(skipped) {
		t.Fatal("the docs-only commit was not skipped")
	}
	reused := kernelFiles(t, build)

	// (b) Raw make of the same tree with the same command line in the
	// same build directory changes nothing: the reused kernel is make's.
	start := time.Now()
	cmd := argv[0]
	out, errOut, code := r.run(r.clone, cmd, argv[1:]...)
	t.Logf("raw make (no-op) in %s: %s", time.Since(start).Round(time.Millisecond), strings.Join(argv, " "))
	if code != 0 {
		t.Fatalf("raw make: exit %d\n%s\n%s", code, out, errOut)
	}
	if after := kernelFiles(t, build); after != reused {
		t.Errorf("raw make of the docs-only commit changed the kernel the skip reused:\nreused %s\nmake   %s", reused, after)
	}
	if strings.Contains(out, "  LD      vmlinux") || strings.Contains(out, "  CC ") {
		t.Errorf("raw make of the docs-only commit compiled or linked:\n%s", out)
	}

	// (c) A .c file in the build: make runs.
	commit("fs/proc/cmdline.c", "\n/* rapido: a change to a built file */\n", "proc: touch cmdline.c")
	ran, _ := run("a .c file in the build")
	if strings.Contains(ran, "build skipped") || !strings.Contains(ran, "build: make runs: fs/proc/cmdline.c is read by the build") {
		t.Error("a change to fs/proc/cmdline.c did not run make")
	}

	// (d) That build made vmlinux only: its bzImage is stale. A fast
	// boot that QEMU refuses falls back to QEMU's defaults, which boot
	// the bzImage made then for that very vmlinux — never the stale one.
	// The stand-in QEMU refuses any command line naming vmlinux; its
	// data directory is the real QEMU's (pvh.bin: the fast path is tried).
	qdir := t.TempDir()
	os.MkdirAll(filepath.Join(qdir, "bin"), 0o755)
	os.MkdirAll(filepath.Join(qdir, "share"), 0o755)
	os.Symlink("/usr/share/qemu", filepath.Join(qdir, "share/qemu"))
	wrapper := filepath.Join(qdir, "bin/qemu-system-x86_64")
	os.WriteFile(wrapper, []byte("#!/bin/sh\ncase \"$*\" in *vmlinux*) echo 'qemu: refused by the test' >&2; exit 1 ;; esac\nexec /usr/bin/qemu-system-x86_64 \"$@\"\n"), 0o755)
	r.setConfig(t, "rapido.qemu", wrapper)
	// TCG: a new QEMU path would probe KVM and be remembered.
	r.setConfig(t, "rapido.accel", "tcg")
	t.Cleanup(func() { r.setConfig(t, "rapido.qemu"); r.setConfig(t, "rapido.accel") })
	stale := kernelFiles(t, build)
	fell, _ := run("a refused fast boot of a vmlinux-only build")
	if !strings.Contains(fell, "boot: fast boot failed (qemu: refused by the test)") || !strings.Contains(fell, "build: making bzImage") {
		t.Error("the refused fast boot did not fall back to a bzImage made for it")
	}
	m := regexp.MustCompile(`rapido: logs in (\S+)`).FindStringSubmatch(fell)
	if cmd, _ := os.ReadFile(filepath.Join(m[1], "qemu.cmd")); !strings.Contains(string(cmd), "/arch/x86/boot/bzImage ") {
		t.Errorf("the fallback booted %s; want the bzImage", cmd)
	}
	if after := kernelFiles(t, build); strings.Fields(after)[1] == strings.Fields(stale)[1] || strings.Fields(after)[3] != strings.Fields(stale)[3] {
		t.Errorf("the fallback left bzImage and vmlinux %s (before %s); want a new bzImage of the same vmlinux", after, stale)
	}
	// The build record now names the bzImage: a classic build of the same
	// tree reuses it.
	r.setConfig(t, "rapido.qemu")
	r.setConfig(t, "rapido.fastBoot", "off")
	t.Cleanup(func() { r.setConfig(t, "rapido.fastBoot") })
	if classic, _ := run("the same tree, classic boot"); !strings.Contains(classic, "build skipped") {
		t.Error("after the fallback made bzImage, a classic boot of the same tree ran make")
	}
}

// makeArgv is the make command line of the build a run's log directory
// records ("+ make -C ... CC=ccache gcc bzImage").
func makeArgv(t *testing.T, stderr string) []string {
	t.Helper()
	m := regexp.MustCompile(`rapido: logs in (\S+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatal("no log directory in the output")
	}
	log, err := os.ReadFile(filepath.Join(m[1], "build.log"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.HasPrefix(l, "+ ") && (strings.Contains(l, "bzImage") || strings.Contains(l+" ", " vmlinux ")) {
			line = strings.TrimPrefix(l, "+ ")
		}
	}
	if line == "" {
		t.Fatalf("no make command line in %s/build.log (did the first run build?)", m[1])
	}
	var argv []string
	f := strings.Fields(line)
	for i := 0; i < len(f); i++ {
		// CC="ccache gcc" is one argument the log prints with a blank.
		if f[i] == "CC=ccache" && i+1 < len(f) {
			argv = append(argv, "CC=ccache "+f[i+1])
			i++
			continue
		}
		argv = append(argv, f[i])
	}
	return argv
}

// kernelFiles names bzImage, vmlinux and the release by their content.
func kernelFiles(t *testing.T, build string) string {
	t.Helper()
	var b bytes.Buffer
	for _, f := range []string{"arch/x86/boot/bzImage", "vmlinux", "include/config/kernel.release"} {
		data, err := os.ReadFile(filepath.Join(build, f))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(f + " " + shortSum(data) + "; ")
	}
	return b.String()
}

func shortSum(b []byte) string { return fmt.Sprintf("%.16x", sha256.Sum256(b)) }
