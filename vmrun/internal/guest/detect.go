package guest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// KernelMarker is the kernel command-line parameter git rapido's QEMU
// command line always passes (qemu.BuildArgs). The guest side runs only
// when it is PID 1 AND the kernel was booted with it: the same binary named
// "init" on a host, or PID 1 of a container, must never mount file systems
// or restart the machine.
const KernelMarker = "rapido.guest=1"

// IsGuest is the decision: PID 1 of a kernel booted with KernelMarker.
func IsGuest(pid int, cmdline string) bool {
	if pid != 1 {
		return false
	}
	for _, f := range strings.Fields(cmdline) {
		if f == KernelMarker {
			return true
		}
	}
	return false
}

// Entry decides whether this process is the test VM's init. It returns
// (status, true) when the caller must exit with status without doing
// anything else: after running the guest, or after refusing to run as
// "init" outside a VM. It returns false when the binary is the ordinary
// host command. Nothing is read or mounted unless the process is PID 1.
func Entry(argv0 string, stderr io.Writer) (int, bool) {
	if os.Getpid() == 1 && IsGuest(1, kernelCmdline()) {
		return Main(), true
	}
	if filepath.Base(argv0) == "init" {
		fmt.Fprintln(stderr, "fatal: this is git rapido's guest init; it runs only as PID 1 of a git rapido test VM (booted with "+KernelMarker+"): run 'git rapido' on the host")
		return 128, true
	}
	return 0, false
}

// kernelCmdline reads /proc/cmdline. A kernel-started init has no /proc
// yet: /proc is mounted just long enough to read it and unmounted again
// when the marker is absent, so a PID 1 that is not our guest is left as
// it was. (When it is our guest, mountAll finds /proc already there.)
func kernelCmdline() string {
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		return string(b)
	}
	os.MkdirAll("/proc", 0o555)
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return ""
	}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil || !IsGuest(1, string(b)) {
		syscall.Unmount("/proc", 0)
		return ""
	}
	return string(b)
}

// procMounted reports whether /proc is mounted here already.
func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}
