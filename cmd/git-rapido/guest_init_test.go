package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// initCopy copies this test binary (whose TestMain runs cli.Main under the
// names "init" and "git-rapido") into a fresh directory under name, where
// an unprivileged user may run it too.
func initCopy(t *testing.T, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "rapido-init-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, name)
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runBounded runs cmd for at most 30 s: the old guest mode never returned
// when it could not restart the machine.
func runBounded(t *testing.T, bin string, attr *syscall.SysProcAttr, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = attr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not return within 30 s (it entered guest mode?); stderr:\n%s", bin, args, errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", bin, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// unprivileged is the SysProcAttr that keeps a test run as root from
// mounting or rebooting anything should the check ever regress.
func unprivileged() *syscall.SysProcAttr {
	if os.Geteuid() != 0 {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

// TestInitOutsideVMRefuses: the binary named init on a host (not PID 1)
// says what it is, exits 128 and mounts nothing. It used to mount /proc,
// /sys, /dev, /tmp and /run and call reboot(2).
func TestInitOutsideVMRefuses(t *testing.T) {
	bin := initCopy(t, "init")
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBounded(t, bin, unprivileged())
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if code != 128 {
		t.Errorf("init exited %d, want 128; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stderr, "fatal: this is git rapido's guest init") || strings.Count(stderr, "\n") != 1 || stdout != "" {
		t.Errorf("init printed stdout %q stderr %q; want one fatal line naming git rapido's guest init", stdout, stderr)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("mounts changed while init ran:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestPID1WithoutMarker: PID 1 of a container (a fresh PID and mount
// namespace here) is not a VM git rapido booted: named init it refuses,
// named git-rapido it is the ordinary command. Root only; the namespaces
// keep even a regression from touching the host.
func TestPID1WithoutMarker(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	ns := func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Unshareflags: syscall.CLONE_NEWNS}
	}
	probe := exec.Command("true")
	probe.SysProcAttr = ns()
	if err := probe.Run(); errors.Is(err, syscall.EPERM) {
		t.Skipf("root without the right to make namespaces (a container?): %v", err)
	}
	code, _, stderr := runBounded(t, initCopy(t, "init"), ns())
	if code != 128 || !strings.HasPrefix(stderr, "fatal: this is git rapido's guest init") {
		t.Errorf("init as PID 1 without %s: exit %d, stderr %q; want 128 and the refusal", "rapido.guest=1", code, stderr)
	}
	code, stdout, stderr := runBounded(t, initCopy(t, "git-rapido"), ns(), "--version")
	if code != 0 || !strings.HasPrefix(stdout, "git-rapido version ") {
		t.Errorf("git-rapido --version as PID 1: exit %d, stdout %q, stderr %q; want the version", code, stdout, stderr)
	}
}

// TestRapidoInitRefuses: the small dedicated init (cmd/rapido-init), run
// on a host under any name, and as PID 1 of a container without the
// kernel's marker, refuses in one line, exit 128, mounting nothing.
func TestRapidoInitRefuses(t *testing.T) {
	dir, err := os.MkdirTemp("", "rapido-init-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "rapido-init-x86_64")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/git-rapido/git-rapido/cmd/rapido-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build rapido-init: %v\n%s", err, out)
	}
	named := filepath.Join(dir, "init")
	if err := os.Link(bin, named); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile("/proc/self/mountinfo")
	for _, b := range []string{bin, named} {
		code, stdout, stderr := runBounded(t, b, unprivileged())
		if code != 128 || !strings.HasPrefix(stderr, "fatal: ") || !strings.Contains(stderr, "guest init") ||
			strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("%s on the host: exit %d, stdout %q, stderr %q; want 128 and one fatal line", filepath.Base(b), code, stdout, stderr)
		}
	}
	if after, _ := os.ReadFile("/proc/self/mountinfo"); !bytes.Equal(before, after) {
		t.Errorf("mounts changed while rapido-init ran")
	}
	if os.Geteuid() != 0 {
		return
	}
	ns := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Unshareflags: syscall.CLONE_NEWNS}
	probe := exec.Command("true")
	probe.SysProcAttr = ns
	if err := probe.Run(); errors.Is(err, syscall.EPERM) {
		t.Skipf("root without the right to make namespaces (a container?): %v", err)
	}
	if code, _, stderr := runBounded(t, bin, ns); code != 128 || !strings.Contains(stderr, "guest init") {
		t.Errorf("rapido-init as PID 1 without rapido.guest=1: exit %d, stderr %q; want 128 and the refusal", code, stderr)
	}
}
