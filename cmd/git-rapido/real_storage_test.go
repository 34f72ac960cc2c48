package main

// The real tier for the storage cuts of contrib/cuts (btrfs-seed and
// storage-daemon), booted in the real-cuts clone with the other cuts: one
// kernel with every cut's options is cheaper on a fresh machine than two.
// The storage-daemon tests also check the host side of the
// storage-daemon directive: the images it leaves, and that no
// qemu-storage-daemon outlives a run however it ends.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setupRealStorage boots the storage cuts in the real-cuts clone, whose
// kernel has their options and SysRq for the crash test's panic. Every
// run's sockets live under its own TMPDIR, so a leftover daemon is found by
// that path (leftovers) and never confused with another test's.
func setupRealStorage(t *testing.T) (*realEnv, string) {
	r, _ := setupRealCuts(t)
	tmp := t.TempDir()
	r.env = append(r.env, "TMPDIR="+tmp)
	return r, tmp
}

// leftovers lists the processes whose command line names dir.
func leftovers(dir string) string {
	out, _ := exec.Command("pgrep", "-a", "-f", regexp.QuoteMeta(dir)).Output()
	return strings.TrimSpace(string(out))
}

// TestRealStorageBtrfsSeed runs the btrfs seed A/B update scenario.
func TestRealStorageBtrfsSeed(t *testing.T) {
	r, _ := setupRealStorage(t)
	code, stderr, console := r.runCut(t, "btrfs-seed")
	if code != 0 || !strings.Contains(stderr, "rapido: pass ") {
		t.Fatalf("--cut btrfs-seed exited %d, want a pass\n%s", code, console)
	}
	for _, want := range []string{"btrfs-seed: seed /dev/zram0 sealed", "btrfs-seed: update written to the sprout /dev/zram1",
		"btrfs-seed: seed unchanged, update on the sprout, fallback shows release 1"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q\n%s", want, console)
		}
	}
}

// TestRealStorageDaemon runs the storage-daemon cut: I/O checked in the
// guest, then the same pattern found in the daemons' images on the host,
// the disks really attached through vhost-user-blk and NBD, and no daemon
// left once git rapido has exited.
func TestRealStorageDaemon(t *testing.T) {
	r, tmp := setupRealStorage(t)
	code, stderr, console := r.runCut(t, "storage-daemon")
	if code != 0 || !strings.Contains(stderr, "rapido: pass ") {
		t.Fatalf("--cut storage-daemon exited %d, want a pass\n%s", code, console)
	}
	if left := leftovers(tmp); left != "" {
		t.Errorf("processes outlived the run:\n%s", left)
	}
	logDir := logsLine.FindStringSubmatch(stderr)[1]
	cmd, _ := os.ReadFile(filepath.Join(logDir, "qemu.cmd"))
	for _, want := range []string{"vhost-user-blk-pci,chardev=", "driver=nbd,", "share=on"} {
		if !strings.Contains(string(cmd), want) {
			t.Errorf("qemu.cmd lacks %q:\n%s", want, cmd)
		}
	}
	for _, disk := range []string{"vdisk", "ndisk"} {
		m := regexp.MustCompile(`storage-daemon: ` + disk + ` /dev/vd[a-z]+ 4 MiB read back, sha256 ([0-9a-f]{64})`).FindStringSubmatch(console)
		if m == nil {
			t.Errorf("%s: the guest did not report its pattern\n%s", disk, console)
			continue
		}
		f, err := os.Open(filepath.Join(logDir, "storage-"+disk+".img"))
		if err != nil {
			t.Errorf("%s: %v", disk, err)
			continue
		}
		h := sha256.New()
		io.CopyN(h, f, 4<<20)
		f.Close()
		if got := fmt.Sprintf("%x", h.Sum(nil)); got != m[1] {
			t.Errorf("%s: the host image's first 4 MiB hash to %s, the guest wrote %s", disk, got, m[1])
		}
		if b, _ := os.ReadFile(filepath.Join(logDir, "storage-"+disk+".log")); len(b) > 0 {
			t.Logf("storage-%s.log:\n%s", disk, b)
		}
	}
}

// storageManifest writes a cut with the storage-daemon cut's disks and the
// test script, and returns its path.
func storageManifest(t *testing.T, extra, script string) string {
	dir := t.TempDir()
	cut := "include base\nstorage-daemon vdisk 64M vhost-user-blk" + extra + "\nstorage-daemon ndisk 32M nbd\nautorun test.sh\n"
	if err := os.WriteFile(filepath.Join(dir, "t.cut"), []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "t.cut")
}

// TestRealStorageDaemonInterrupt signals git rapido while the guest is
// using the daemons' disks: on SIGINT (Ctrl-C) git rapido stops QEMU and
// every qemu-storage-daemon itself; on SIGKILL it cannot, and they die of
// their parent-death signal (package tether).
func TestRealStorageDaemonInterrupt(t *testing.T) {
	r, tmp := setupRealStorage(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			// The run's log directory is found by the line its guest prints.
			marker := fmt.Sprintf("storage-interrupt-%d ready", time.Now().UnixNano())
			m := storageManifest(t, "", "dd if=/dev/zero of=/dev/vda bs=64k count=16 conv=fsync 2>/dev/null\necho "+marker+"\nsleep 600\n")
			cmd := exec.Command(r.bin, "run", "--accel", "tcg", "--manifest", m)
			cmd.Dir, cmd.Env = r.clone, r.env
			done, stderr := startUntilConsole(t, cmd, r.clone, marker)
			if n := strings.Count(leftovers(tmp), "qemu-storage-daemon"); n != 2 {
				t.Fatalf("%d daemons name the test's TMPDIR while the VM runs, want 2: the leftover check below would prove nothing\n%s", n, leftovers(tmp))
			}
			signalAndWait(t, cmd, done, sig, stderr)
			// The parent-death signal is delivered as git rapido exits,
			// and the daemons take a moment to die of it.
			left := leftovers(tmp)
			for end := time.Now().Add(5 * time.Second); left != "" && time.Now().Before(end); left = leftovers(tmp) {
				time.Sleep(100 * time.Millisecond)
			}
			if left != "" {
				t.Errorf("processes outlived the run ended by %s:\n%s", sig, left)
			}
		})
	}
}

// startUntilConsole starts a run (cmd, in clone) and returns once its
// guest has printed marker on the console; done says when the run ends.
func startUntilConsole(t *testing.T, cmd *exec.Cmd, clone, marker string) (<-chan error, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Minute)
	for !consoleSays(clone, marker) {
		select {
		case err := <-done:
			t.Fatalf("git rapido ended before the guest was ready (%v)\n%s", err, stderr.String())
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the guest never became ready\n%s", stderr.String())
		}
	}
	return done, &stderr
}

// signalAndWait sends sig to a run started by startUntilConsole and waits
// (30 s at most) for it to end.
func signalAndWait(t *testing.T, cmd *exec.Cmd, done <-chan error, sig syscall.Signal, stderr *bytes.Buffer) {
	t.Helper()
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("git rapido did not end within 30 s of %s\n%s", sig, stderr.String())
	}
	t.Logf("after %s: exit %d\n%s", sig, cmd.ProcessState.ExitCode(), stderr.String())
}

// consoleSays reports whether a run's console log in clone holds s.
func consoleSays(clone, s string) bool {
	logs, _ := filepath.Glob(filepath.Join(clone, ".git/rapido/logs/*/console.log"))
	for _, l := range logs {
		if b, _ := os.ReadFile(l); bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// TestRealStorageDaemonCrash panics the guest kernel in the middle of its
// I/O: the run fails, and no daemon is left.
func TestRealStorageDaemonCrash(t *testing.T) {
	r, tmp := setupRealStorage(t)
	m := storageManifest(t, "", "dd if=/dev/zero of=/dev/vda bs=64k count=16 conv=fsync 2>/dev/null\necho c >/proc/sysrq-trigger\nsleep 600\n")
	_, stderr, code := r.run(r.clone, r.bin, "run", "--accel", "tcg", "--manifest", m)
	t.Logf("exit %d\n%s", code, stderr)
	if code != 2 || !regexp.MustCompile(`rapido: crash .*Kernel panic - not syncing`).MatchString(stderr) {
		t.Errorf("a guest panic: exit %d, want 2 (crash) naming the panic\n%s", code, stderr)
	}
	if left := leftovers(tmp); left != "" {
		t.Errorf("processes outlived the crashed run:\n%s", left)
	}
}

// TestRealStorageDaemonCannotStart: a daemon that refuses its arguments,
// and a missing daemon, both stop the run before QEMU starts with exit
// 128 and one line naming the cause, and leave nothing running.
func TestRealStorageDaemonCannotStart(t *testing.T) {
	r, tmp := setupRealStorage(t)
	for _, tc := range []struct {
		name  string
		extra string   // added to the vdisk line
		env   []string // added to the environment
		want  string
	}{
		{"bad-argument", " bogus=1", nil, `storage-daemon vdisk: qemu-storage-daemon exited 1: .*Parameter 'bogus' is unexpected`},
		{"missing", "", []string{"RAPIDO_STORAGE_DAEMON=" + filepath.Join(tmp, "no-such-daemon")},
			`storage-daemon vdisk: .*no-such-daemon.* not found \(install qemu-system-common, or set RAPIDO_STORAGE_DAEMON\)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := storageManifest(t, tc.extra, "echo unreachable\n")
			rr := *r
			rr.env = append(append([]string(nil), r.env...), tc.env...)
			_, stderr, code := rr.run(r.clone, r.bin, "run", "--accel", "tcg", "--manifest", m)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			infra := ""
			for _, l := range lines {
				if strings.HasPrefix(l, "rapido: infra") || strings.HasPrefix(l, "rapido: cannot test") {
					infra = l
				}
			}
			if code != 128 || !regexp.MustCompile(tc.want).MatchString(infra) {
				t.Errorf("exit %d, want 128 and one line matching %q\n%s", code, tc.want, stderr)
			}
			if left := leftovers(tmp); left != "" {
				t.Errorf("processes outlived the run:\n%s", left)
			}
		})
	}
}
