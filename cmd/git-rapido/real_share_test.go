package main

// The real tier for shares: host directories mounted in a real guest over
// 9p, in the real-cuts clone, whose kernel has 9p and the network stack it
// needs (cutsKconfig): no kernel of its own to build.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealShare runs a script straight from the host worktree with --pwd
// (its exit code is the verdict's, a second test is answered by the cache
// under the script's tree), reads back on the host a file the guest wrote
// through a rw share, calls a kernel without 9p "cannot test", and refuses
// a missing share with 128 before anything starts.
func TestRealShare(t *testing.T) {
	// The real-cuts clone: its kernel has 9p already (cutsKconfig), so a
	// share's kconfig items change nothing there.
	r, _ := setupRealCuts(t)
	t.Cleanup(func() { os.RemoveAll(filepath.Join(r.clone, "rapido-share-test")) })
	r.mustRun(t, r.clone, "git", "config", "rapido.accel", "tcg")
	// The script lives in the worktree, untracked: nothing is cut into
	// the image for it.
	dir := filepath.Join(r.clone, "rapido-share-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"share-test: in $(pwd), $(cat data)\"\nexit $(cat code)\n"
	for name, text := range map[string]string{"my-test": script, "data": "from the host", "code": "7"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logs := func(stderr string) string {
		m := logsLine.FindStringSubmatch(stderr)
		if m == nil {
			return ""
		}
		b, _ := os.ReadFile(filepath.Join(m[1], "console.log"))
		return string(b)
	}

	t.Run("pwd-exit-code", func(t *testing.T) {
		start := time.Now()
		_, stderr, code := r.run(dir, r.bin, "run", "--timings", "--pwd", "--", "./my-test")
		t.Logf("run --pwd (exits 7): exit %d in %s\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
		if code != 1 || !strings.Contains(stderr, "test exited 7") {
			t.Fatalf("a script exiting 7 from the host worktree: exit %d, want 1 with \"test exited 7\"\n%s", code, logs(stderr))
		}
		if c := logs(stderr); !strings.Contains(c, "share-test: in /mnt/pwd, from the host") {
			t.Errorf("console lacks the script's line:\n%s", c)
		}
	})

	t.Run("pwd-cached", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "code"), []byte("0"), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, stderr, code := r.run(dir, r.bin, "test", "--no-trailer", "--pwd", "--", "./my-test")
		t.Logf("test --pwd (exits 0): exit %d in %s\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
		if code != 0 || strings.Contains(stderr, "not cached") {
			t.Fatalf("test --pwd: exit %d, want 0 and a cached verdict\n%s", code, logs(stderr))
		}
		_, stderr, code = r.run(dir, r.bin, "test", "--no-trailer", "--pwd", "--", "./my-test")
		if code != 0 || !regexp.MustCompile(`(?m)^rapido: pass \(cached\)`).MatchString(stderr) {
			t.Errorf("second test --pwd: exit %d, want a cached pass\n%s", code, stderr)
		}
	})

	t.Run("rw-readback", func(t *testing.T) {
		out := t.TempDir()
		start := time.Now()
		_, stderr, code := r.run(r.clone, r.bin, "run", "--share", out+":/mnt/out:rw", "--",
			"sh", "-c", "echo written-in-the-guest >/mnt/out/f && mkdir /mnt/out/d && sync")
		t.Logf("run --share rw: exit %d in %s\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
		if code != 0 {
			t.Fatalf("rw share: exit %d\n%s", code, logs(stderr))
		}
		b, err := os.ReadFile(filepath.Join(out, "f"))
		if err != nil || string(b) != "written-in-the-guest\n" {
			t.Errorf("the host reads %q, %v; want what the guest wrote", b, err)
		}
		if fi, err := os.Stat(filepath.Join(out, "d")); err != nil || !fi.IsDir() {
			t.Errorf("the directory the guest made is not on the host: %v", err)
		}
		// A read-only share refuses the same write: the test fails.
		_, stderr, code = r.run(r.clone, r.bin, "run", "--share", out+":/mnt/out", "--",
			"sh", "-c", "echo again >/mnt/out/g")
		if code != 1 {
			t.Errorf("writing to a read-only share: exit %d, want 1\n%s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "g")); err == nil {
			t.Error("the guest wrote through a read-only share")
		}
	})

	// A kernel whose 9p never registered (its initcall blacklisted): the
	// guest cannot mount the share, which is "cannot test", not a failure
	// of the kernel, with what the kernel needs.
	t.Run("kernel-without-9p", func(t *testing.T) {
		_, stderr, code := r.run(r.clone, r.bin, "run", "--pwd", "--append", "initcall_blacklist=init_v9fs", "--", "true")
		want := "cannot test: mount share rapido0 on /mnt/pwd: no such device (the kernel lacks 9p: it needs CONFIG_NET_9P_VIRTIO=y and CONFIG_9P_FS=y)"
		if code != 128 || !strings.Contains(stderr, want) {
			t.Errorf("share on a kernel without 9p: exit %d, want 128 with %q\n%s", code, want, stderr)
		}
	})

	t.Run("missing", func(t *testing.T) {
		before, _ := filepath.Glob(filepath.Join(r.clone, ".git/rapido/logs/*"))
		_, stderr, code := r.run(r.clone, r.bin, "run", "--share", "/nonexistent/rapido-share:/mnt/x", "--", "true")
		if code != 128 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "no such directory (create it or fix the path)") {
			t.Errorf("missing share: exit %d, want 128 with one line naming the fix\n%s", code, stderr)
		}
		after, _ := filepath.Glob(filepath.Join(r.clone, ".git/rapido/logs/*"))
		if len(after) != len(before) {
			t.Errorf("a missing share started a run (%d log dirs, were %d)", len(after), len(before))
		}
		if qs := qemusWith(t, "/nonexistent/rapido-share"); len(qs) > 0 {
			t.Errorf("QEMU left running: %v", qs)
		}
	})
}

// qemusWith lists the running processes whose command line holds s.
func qemusWith(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), s) && strings.Contains(string(b), "qemu") {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
