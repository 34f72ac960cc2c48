package vmrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// TestVirtiofsdRO runs the read-only wrapper (git rapido virtiofsd-ro, here
// this test binary under git-rapido's name: see TestMain) in front of a
// stand-in daemon, as a run starts it for a read-only share when the
// daemon cannot refuse writes itself: the daemon sees the share's files at
// its source, a write there fails with EROFS on the host side while the
// share itself stays writable, the bind mount exists only in the daemon's
// own mount namespace (the host's mount table never shows it), and stop
// leaves no socket directory.
func TestVirtiofsdRO(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING TestVirtiofsdRO: the read-only bind mount needs root (as QEMU's C virtiofsd does); run the tests as root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	share, logDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	// The host's mount table is the machine's, which other programs may
	// change meanwhile: what must not be in it is a mount of the share or
	// in the socket directory.
	hostMounts := func() string {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, share) || strings.Contains(l, sockDir) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if m := hostMounts(); m != "" {
		t.Fatalf("mounts of the test's directories before the test:\n%s", m)
	}
	os.WriteFile(filepath.Join(share, "data"), []byte("from the host"), 0o644)
	got, r, daemon := serveReadOnly(t, self, logDir, sockDir, share, `	echo "data: $(cat "$src/data")"
	echo "ns: $(readlink /proc/self/ns/mnt)"
	sh -c "echo x >'$src/written'" 2>&1 && echo "write: done"
	sh -c "mkdir '$src/d'" 2>&1 && echo "mkdir: done"
`)
	t.Logf("the daemon saw:\n%s", got)
	if !strings.Contains(got, "data: from the host\n") {
		t.Errorf("the daemon does not see the share's files at its source:\n%s", got)
	}
	if strings.Contains(got, "write: done") || strings.Contains(got, "mkdir: done") || strings.Count(got, "Read-only file system") != 2 {
		t.Errorf("writes through the served directory did not fail with EROFS:\n%s", got)
	}
	if ns, _ := os.Readlink("/proc/self/ns/mnt"); strings.Contains(got, "ns: "+ns+"\n") {
		t.Errorf("the daemon runs in the host's mount namespace (%s)", ns)
	}
	if m := hostMounts(); m != "" {
		t.Errorf("the read-only mount is in the host's mount table while the daemon runs:\n%s", m)
	}
	if _, err := os.Stat(filepath.Join(share, "written")); err == nil {
		t.Error("the write through the read-only mount reached the share")
	}
	if err := os.WriteFile(filepath.Join(share, "host-write"), []byte("x"), 0o644); err != nil {
		t.Errorf("the share itself is no longer writable on the host: %v", err)
	}
	r.stop()
	if m := hostMounts(); m != "" {
		t.Errorf("a mount is left in the host's mount table:\n%s", m)
	}
	if _, err := os.Stat(sockDir); err == nil {
		t.Error("stop left the socket directory")
	}
	if b, err := os.ReadFile(filepath.Join(share, "data")); err != nil || string(b) != "from the host" {
		t.Errorf("the share's file after the run: %q, %v", b, err)
	}

	// A share that cannot be mounted: the wrapper's one line is the
	// reason the daemon did not start.
	r = &virtiofsRun{dir: t.TempDir(), d: qemu.Virtiofsd{Path: daemon, ROBind: true}, self: self, logDir: logDir,
		shares: []qemu.Share{{Tag: "rapido0", Path: filepath.Join(share, "missing"), Socket: filepath.Join(sockDir, "x.sock")}},
		procs:  make([]*virtiofsProc, 1)}
	err = r.forBoot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "c-virtiofsd exited 128: virtiofsd-ro: share: ") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing share: %v", err)
	}
}

// TestVirtiofsdROUsage: the wrapper refuses to run without its operands,
// before it unshares or mounts anything.
func TestVirtiofsdROUsage(t *testing.T) {
	var b strings.Builder
	if code := VirtiofsdRO([]string{"/src"}, &b); code != 129 || !strings.Contains(b.String(), "usage: git rapido virtiofsd-ro <share> <mount point> <virtiofsd> [<argument>...]") {
		t.Errorf("exit %d, %q", code, b.String())
	}
}

// TestMountsUnder: the mounts the recursive bind copied are the mount
// point and those below it, escapes undone; a sibling with the same
// prefix is not one.
func TestMountsUnder(t *testing.T) {
	info := []byte(`22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:5 / /tmp/vfs/r0.ro rw - ext4 /dev/sda1 rw
31 30 0:6 / /tmp/vfs/r0.ro/sub\040dir rw - tmpfs tmpfs rw
32 22 0:7 / /tmp/vfs/r0.rox rw - tmpfs tmpfs rw
`)
	got := mountsUnder(info, "/tmp/vfs/r0.ro")
	if want := []string{"/tmp/vfs/r0.ro", "/tmp/vfs/r0.ro/sub dir"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("mountsUnder = %q, want %q", got, want)
	}
}

// TestVirtiofsdROSubmount: a mount under the share (a tmpfs here) is
// served too, and read-only as well: the recursive bind copies it, and a
// bind mount's read-only flag is per mount. The tmpfs is mounted in a
// mount namespace of the test's own (the test runs again in one), so the
// host never sees it.
func TestVirtiofsdROSubmount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING TestVirtiofsdROSubmount: the read-only bind mount needs root; run the tests as root")
	}
	if os.Getenv("RAPIDO_TEST_PRIVATE_NS") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestVirtiofsdROSubmount$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "RAPIDO_TEST_PRIVATE_NS=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		t.Logf("in a mount namespace of its own:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestVirtiofsdROSubmount") {
			t.Fatalf("the test in its own mount namespace: %v", err)
		}
		return
	}
	// Go made the namespace private (Unshareflags): the tmpfs stays here.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	share, logDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	sub := filepath.Join(share, "sub")
	os.Mkdir(sub, 0o755)
	if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	defer syscall.Unmount(sub, syscall.MNT_DETACH)
	os.WriteFile(filepath.Join(sub, "data"), []byte("on the tmpfs"), 0o644)
	got, _, _ := serveReadOnly(t, self, logDir, sockDir, share, `	echo "data: $(cat "$src/sub/data")"
	sh -c "echo x >'$src/sub/written'" 2>&1 && echo "write: done"
`)
	t.Logf("the daemon saw:\n%s", got)
	if !strings.Contains(got, "data: on the tmpfs\n") {
		t.Errorf("the daemon does not see the mount under the share:\n%s", got)
	}
	if strings.Contains(got, "write: done") || !strings.Contains(got, "Read-only file system") {
		t.Errorf("a write to the mount under the share did not fail with EROFS:\n%s", got)
	}
	if err := os.WriteFile(filepath.Join(sub, "host-write"), []byte("x"), 0o644); err != nil {
		t.Errorf("the mount under the share is no longer writable outside the daemon: %v", err)
	}
}

// BenchmarkVirtiofsdStart measures what the read-only wrapper adds to a
// daemon's start: QEMU's C virtiofsd (root) started until it listens,
// serving a share directly (rw) and through virtiofsd-ro (ro),
// side by side. Run: go test -run '^$' -bench BenchmarkVirtiofsdStart ./vmrun/
func BenchmarkVirtiofsdStart(b *testing.B) {
	const c = "/usr/lib/qemu/virtiofsd"
	if os.Geteuid() != 0 {
		b.Skip("SKIPPING: QEMU's C virtiofsd runs only as root")
	}
	if _, err := os.Stat(c); err != nil {
		b.Skip("SKIPPING: no " + c + " (qemu-system-common)")
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	share := b.TempDir()
	for _, mode := range []string{"rw-direct", "ro-wrapper"} {
		b.Run(mode, func(b *testing.B) {
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				sock := b.TempDir()
				r := &virtiofsRun{dir: sock, d: qemu.Virtiofsd{Path: c, ROBind: true}, self: self, logDir: sock,
					shares: []qemu.Share{{Tag: "rapido0", Path: share, RW: mode == "rw-direct", Socket: filepath.Join(sock, "rapido0.sock")}},
					procs:  make([]*virtiofsProc, 1)}
				b.StartTimer()
				if err := r.forBoot(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				// Not timed: with no QEMU to hang up, the daemon is stopped
				// by signals and a grace period.
				r.procs[0].kill()
				r.stop()
			}
		})
	}
}

// serveReadOnly starts a stand-in C daemon for share through the
// virtiofsd-ro wrapper; the daemon runs probe (shell lines, $src its
// source directory) and its output is returned, with the run and the
// daemon's path. The daemon is stopped when the test ends, if not before.
func serveReadOnly(t *testing.T, self, logDir, sockDir, share, probe string) (string, *virtiofsRun, string) {
	t.Helper()
	result := filepath.Join(logDir, "result")
	daemon := filepath.Join(logDir, "c-virtiofsd")
	os.WriteFile(daemon, []byte(`#!/bin/sh
for a; do case $a in source=*) src=${a#source=};; esac; done
{
`+probe+`	echo end
} >`+result+`.tmp
mv `+result+`.tmp `+result+`
echo 'virtiofsd: Waiting for vhost-user socket connection...' >&2
exec sleep 60
`), 0o755)
	r := &virtiofsRun{dir: sockDir, d: qemu.Virtiofsd{Path: daemon, ROBind: true}, self: self, logDir: logDir,
		shares: []qemu.Share{{Tag: "rapido0", Path: share, Socket: filepath.Join(sockDir, "rapido0.sock")}},
		procs:  make([]*virtiofsProc, 1)}
	if err := r.forBoot(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	var out []byte
	var err error
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if out, err = os.ReadFile(result); err == nil {
			break
		}
	}
	return string(out), r, daemon
}
