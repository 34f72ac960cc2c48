package main

// The real tier for shares: host directories mounted in a real guest over
// 9p, in the real-cuts clone, whose kernel has 9p and the network stack it
// needs (cutsKconfig): no kernel of its own to build.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
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
	// 9p here, whatever virtiofsd the host has (TestRealShareVirtiofs).
	r.mustRun(t, r.clone, "git", "config", "rapido.shareTransport", "9p")
	t.Cleanup(func() { r.mustRun(t, r.clone, "git", "config", "--unset", "rapido.shareTransport") })
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

// virtiofsds lists the running virtiofsd processes (by their executable,
// so a daemon serving a read-only bind mount, whose command line names the
// mount and not the share, is one too) that are not in before.
func virtiofsds(before map[string]bool) map[string]bool {
	out := map[string]bool{}
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range exes {
		if l, err := os.Readlink(p); err == nil && filepath.Base(strings.TrimSuffix(l, " (deleted)")) == "virtiofsd" {
			b, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
			d := filepath.Dir(p) + ": " + strings.ReplaceAll(string(b), "\x00", " ")
			if !before[d] {
				out[d] = true
			}
		}
	}
	return out
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

// TestRealShareVirtiofs boots the real-cuts kernel (virtiofs is in the
// built-in fragment) with shares over virtiofs, served by the host's
// virtiofsd: a script run from a writable share of the host, a file the
// guest writes read back on the host, a read-only share the guest cannot
// write even after remounting it rw (over virtiofs: the Rust daemon
// refuses writes itself, QEMU's C one serves a read-only bind mount), a
// --pwd script over virtiofs, and no virtiofsd left running. It logs
// boot-to-verdict over 9p and over virtiofs, rw and ro, a few runs each.
func TestRealShareVirtiofs(t *testing.T) {
	r, _ := setupRealCuts(t)
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("/usr/libexec/virtiofsd"); err != nil {
			if os.Getenv("RAPIDO_REQUIRE_REAL") == "1" {
				t.Fatal("real tier required, but QEMU's C virtiofsd needs root and the virtiofsd package is not installed")
			}
			t.Skip("SKIPPING TestRealShareVirtiofs: QEMU's C virtiofsd needs root; install the virtiofsd package")
		}
	}
	r.mustRun(t, r.clone, "git", "config", "rapido.accel", "tcg")
	r.mustRun(t, r.clone, "git", "config", "rapido.shareTransport", "virtiofs")
	t.Cleanup(func() { r.mustRun(t, r.clone, "git", "config", "--unset", "rapido.shareTransport") })
	verdict := func(stderr string) map[string]any {
		m := logsLine.FindStringSubmatch(stderr)
		if m == nil {
			return nil
		}
		b, _ := os.ReadFile(filepath.Join(m[1], "verdict.json"))
		var v map[string]any
		json.Unmarshal(b, &v)
		return v
	}
	console := func(stderr string) string {
		m := logsLine.FindStringSubmatch(stderr)
		if m == nil {
			return ""
		}
		b, _ := os.ReadFile(filepath.Join(m[1], "console.log"))
		return string(b)
	}
	noDaemons := func(t *testing.T, dir string) {
		t.Helper()
		cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range cmdlines {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "virtiofsd") && strings.Contains(string(b), dir) {
				t.Errorf("virtiofsd left running: %s", strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}

	t.Run("script-and-readback", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "my-test"), []byte("#!/bin/sh\necho \"vfs-test: in $(pwd), $(cat data)\"\necho written-in-the-guest >out\nmkdir d\nsync\n"), 0o755)
		os.WriteFile(filepath.Join(dir, "data"), []byte("from the host"), 0o644)
		start := time.Now()
		_, stderr, code := r.run(r.clone, r.bin, "run", "-v", "--share", dir+":/mnt/w:rw", "--", "sh", "-c", "cd /mnt/w && ./my-test")
		t.Logf("run --share rw over virtiofs: exit %d in %s\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
		if code != 0 {
			t.Fatalf("virtiofs share: exit %d\n%s", code, console(stderr))
		}
		if v := verdict(stderr); v == nil || v["share_transport"] != "virtiofs" {
			t.Errorf("verdict share_transport = %v, want virtiofs", v["share_transport"])
		}
		if c := console(stderr); !strings.Contains(c, "vfs-test: in /mnt/w, from the host") {
			t.Errorf("console lacks the script's line:\n%s", c)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(b) != "written-in-the-guest\n" {
			t.Errorf("the host reads %q, %v; want what the guest wrote", b, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, "d")); err != nil || !fi.IsDir() {
			t.Errorf("the directory the guest made is not on the host: %v", err)
		}
		noDaemons(t, dir)
	})

	t.Run("read-only", func(t *testing.T) {
		dir := t.TempDir()
		before := virtiofsds(nil)
		// The guest's root remounts the share rw and tries again: the
		// host side must refuse.
		_, stderr, code := r.run(r.clone, r.bin, "run", "-v", "--share", dir+":/mnt/ro", "--", "sh", "-c",
			"echo x >/mnt/ro/f; mount -o remount,rw /mnt/ro && echo remounted-rw; echo y >/mnt/ro/g; test ! -e /mnt/ro/f && test ! -e /mnt/ro/g")
		t.Logf("run --share ro: exit %d\n%s", code, stderr)
		if _, err := os.Stat(filepath.Join(dir, "f")); err == nil {
			t.Error("the guest wrote through a read-only share")
		}
		if _, err := os.Stat(filepath.Join(dir, "g")); err == nil {
			t.Error("the guest wrote through a read-only share it remounted rw")
		}
		if code != 0 {
			t.Errorf("read-only share: exit %d, want 0 (both writes refused)\n%s", code, console(stderr))
		}
		// The second write was the host's to refuse: the guest's mount
		// was rw by then.
		if c := console(stderr); !strings.Contains(c, "remounted-rw") || !strings.Contains(c, "can't create /mnt/ro/g: Read-only file system") {
			t.Errorf("the guest did not remount the share rw, or its write was not refused with EROFS:\n%s", c)
		}
		// Over virtiofs whichever daemon the host has: the Rust one
		// refuses writes itself, QEMU's C one (root) serves a read-only
		// bind mount of the share (git rapido virtiofsd-ro).
		if v := verdict(stderr); v == nil || v["share_transport"] != "virtiofs" {
			t.Errorf("verdict share_transport = %v, want virtiofs", v["share_transport"])
		}
		_, dry, code := r.run(r.clone, r.bin, "run", "--dry-run", "--share", dir+":/mnt/ro", "--", "true")
		if code != 0 || !strings.Contains(dry, "share: "+dir+" on /mnt/ro (ro, over virtiofs)") {
			t.Errorf("dry run: exit %d, want the ro share over virtiofs:\n%s", code, dry)
		}
		if left := virtiofsds(before); len(left) > 0 {
			t.Errorf("virtiofsd left running: %v", left)
		}
		if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), dir) {
			t.Errorf("the read-only bind mount is in the host's mount table:\n%s", b)
		}
	})

	// --pwd (a read-only share of the current directory) over virtiofs:
	// the script runs from the host's directory, its exit code is the
	// verdict's.
	t.Run("pwd", func(t *testing.T) {
		// In the worktree, untracked, as TestRealShare's script.
		dir := filepath.Join(r.clone, "rapido-vfs-pwd-test")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		before := virtiofsds(nil)
		os.WriteFile(filepath.Join(dir, "my-test"), []byte("#!/bin/sh\necho \"vfs-pwd: in $(pwd), $(cat data)\"\nexit 5\n"), 0o755)
		os.WriteFile(filepath.Join(dir, "data"), []byte("from the host"), 0o644)
		start := time.Now()
		_, stderr, code := r.run(dir, r.bin, "run", "-v", "--pwd", "--", "./my-test")
		t.Logf("run --pwd over virtiofs: exit %d in %s\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
		if code != 1 || !strings.Contains(stderr, "test exited 5") {
			t.Fatalf("--pwd script exiting 5: exit %d, want 1 with \"test exited 5\"\n%s", code, console(stderr))
		}
		if v := verdict(stderr); v == nil || v["share_transport"] != "virtiofs" {
			t.Errorf("verdict share_transport = %v, want virtiofs", v["share_transport"])
		}
		if c := console(stderr); !strings.Contains(c, "vfs-pwd: in /mnt/pwd, from the host") {
			t.Errorf("console lacks the script's line:\n%s", c)
		}
		if left := virtiofsds(before); len(left) > 0 {
			t.Errorf("virtiofsd left running: %v", left)
		}
	})

	// Boot-to-verdict (firmware, kernel, init with the mounts, test,
	// shutdown) with one share, rw and ro, over 9p and over virtiofs.
	for _, mode := range []string{"rw", "ro"} {
		t.Run("boot-to-verdict-"+mode, func(t *testing.T) {
			dir := t.TempDir()
			med := map[string]time.Duration{}
			for _, tr := range []string{"9p", "virtiofs"} {
				var ds []time.Duration
				r.mustRun(t, r.clone, "git", "config", "rapido.shareTransport", tr)
				for i := 0; i < 3; i++ {
					_, stderr, code := r.run(r.clone, r.bin, "run", "--share", dir+":/mnt/w:"+mode, "--", "sh", "-c", "ls /mnt/w >/dev/null")
					v := verdict(stderr)
					if code != 0 || v == nil || v["share_transport"] != tr {
						t.Fatalf("%s run: exit %d, transport %v\n%s", tr, code, v["share_transport"], stderr)
					}
					tm, _ := v["timings"].(map[string]any)
					var d time.Duration
					for _, k := range []string{"firmware", "kernel_boot", "init", "test", "shutdown"} {
						f, _ := tm[k].(float64)
						d += time.Duration(f)
					}
					ds = append(ds, d)
				}
				slices.Sort(ds)
				med[tr] = ds[1]
				t.Logf("boot-to-verdict, %s share, over %s: %v (median %v)", mode, tr, ds, ds[1])
			}
			t.Logf("virtiofs/9p boot-to-verdict, %s share: %.3f", mode, float64(med["virtiofs"])/float64(med["9p"]))
		})
	}
}

// TestRealShareVirtiofsInterrupt signals git rapido while the guest uses a
// share over virtiofs: on SIGINT (Ctrl-C) git rapido stops QEMU and the
// virtiofsd itself; on SIGKILL it cannot, and the daemon dies of its
// parent-death signal (package tether), as the storage daemons do.
func TestRealShareVirtiofsInterrupt(t *testing.T) {
	r, _ := setupRealCuts(t)
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("/usr/libexec/virtiofsd"); err != nil {
			if os.Getenv("RAPIDO_REQUIRE_REAL") == "1" {
				t.Fatal("real tier required, but QEMU's C virtiofsd needs root and the virtiofsd package is not installed")
			}
			t.Skip("SKIPPING TestRealShareVirtiofsInterrupt: QEMU's C virtiofsd needs root; install the virtiofsd package")
		}
	}
	r.mustRun(t, r.clone, "git", "config", "rapido.shareTransport", "virtiofs")
	t.Cleanup(func() { r.mustRun(t, r.clone, "git", "config", "--unset", "rapido.shareTransport") })
	// A rw share and a ro one: with QEMU's C daemon the ro one's daemon
	// runs behind the read-only wrapper (virtiofsd-ro), which execs it.
	daemons := func(before map[string]bool) string {
		var out []string
		for d := range virtiofsds(before) {
			out = append(out, d)
		}
		return strings.Join(out, "\n")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, ro := t.TempDir(), t.TempDir()
			before := virtiofsds(nil)
			marker := fmt.Sprintf("virtiofs-interrupt-%d ready", time.Now().UnixNano())
			cmd := exec.Command(r.bin, "run", "--accel", "tcg", "--share", dir+":/mnt/w:rw", "--share", ro+":/mnt/r", "--",
				"sh", "-c", "ls /mnt/w /mnt/r && echo "+marker+" && sleep 600")
			cmd.Dir, cmd.Env = r.clone, r.env
			done, stderr := startUntilConsole(t, cmd, r.clone, marker)
			// One daemon per share (QEMU's C daemon forks a child of
			// itself, on the same socket).
			sockets := map[string]bool{}
			for d := range virtiofsds(before) {
				if _, sock, ok := strings.Cut(d, "--socket-path="); ok {
					sockets[strings.Fields(sock)[0]] = true
				}
			}
			if len(sockets) != 2 {
				t.Fatalf("virtiofsd serves %d sockets while the VM runs, want one per share (2): the leftover check below would prove nothing\n%s", len(sockets), daemons(before))
			}
			signalAndWait(t, cmd, done, sig, stderr)
			left := daemons(before)
			for end := time.Now().Add(5 * time.Second); left != "" && time.Now().Before(end); left = daemons(before) {
				time.Sleep(100 * time.Millisecond)
			}
			if left != "" {
				t.Errorf("virtiofsd outlived the run ended by %s:\n%s", sig, left)
			}
			if qs := qemusWith(t, dir); len(qs) > 0 {
				t.Errorf("QEMU outlived the run ended by %s: %v", sig, qs)
			}
		})
	}
}
