// Package vmrun builds a kernel tree, cuts a minimal initramfs test image,
// boots it in QEMU and classifies what happened into a Verdict.
//
// The exported surface (Spec, Verdict, Status, Run) is what the command layer,
// the verdict cache and bisect use; the work itself lives in
// vmrun/internal/{kbuild,cut,elfdeps,qemu,console,guest}.
package vmrun

import (
	"fmt"
	"time"
)

// Status is the classified outcome of one test run.
type Status string

// The statuses, and the exit code each maps to (see ExitCode).
const (
	Pass      Status = "pass"       // test ran and succeeded: exit 0
	Fail      Status = "fail"       // test ran and failed: exit 1
	Crash     Status = "crash"      // panic, oops, BUG, KASAN/UBSAN, WARNING: exit 2
	Hang      Status = "hang"       // no console progress or overall timeout: exit 2
	BuildFail Status = "build-fail" // the kernel did not compile: exit 125
	Infra     Status = "infra"      // cannot test (QEMU missing, bad config, ...): exit 128
)

// ExitCode maps a status to git rapido's documented exit codes, designed for
// "git bisect run" (0 good, 1..124 bad, 125 skip, >127 abort) and rebase exec.
func (s Status) ExitCode() int {
	switch s {
	case Pass:
		return 0
	case Fail:
		return 1
	case Crash, Hang:
		return 2
	case BuildFail:
		return 125
	default:
		return 128
	}
}

// Verdict is what one run concluded, with enough context to explain it.
type Verdict struct {
	Status Status `json:"status"`
	// Reason is one line: "test exited 1", "kernel panic: VFS: Unable to
	// mount root fs", "drivers/foo.c:12: error: ...".
	Reason string `json:"reason"`
	// Excerpt holds the lines that explain a failure: compiler errors, the
	// panic with its call trace, the tail of the failing command's output.
	Excerpt []string `json:"excerpt,omitempty"`
	// LogDir holds build.log, console.log, and the guest's output.
	LogDir        string `json:"log_dir,omitempty"`
	KernelRelease string `json:"kernel_release,omitempty"`
	// Accel is the accelerator the verdict's boot ran under (kvm or tcg),
	// after auto-detection and any fallback.
	Accel string `json:"accel,omitempty"`
	// Boot is the way the verdict's boot entered the kernel: "fast"
	// (the PVH vmlinux, microvm) or "classic" (QEMU's defaults); see
	// rapido.fastBoot.
	Boot string `json:"boot,omitempty"`
	// ShareTransport is how the shares reached the guest: 9p, virtiofs,
	// or virtiofs+9p (rapido.shareTransport); not in the cache key.
	ShareTransport string  `json:"share_transport,omitempty"`
	Timings        Timings `json:"timings"`
	// BuildNote says how the kernel was had when make did not build it
	// (SkipNote: the last build's kernel, no input of it changed).
	BuildNote string        `json:"build_note,omitempty"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration"`
	// Runs and Passed count the runs of a repeated test: the verdict is the
	// first run that did not pass, or a pass when all Runs passed.
	Runs   int `json:"runs,omitempty"`
	Passed int `json:"passed,omitempty"`
	// NewWarnings counts the compiler warnings this commit's build added.
	NewWarnings int `json:"new_warnings,omitempty"`
}

// Timings splits a run into its phases.
type Timings struct {
	Build time.Duration `json:"build"`
	Cut   time.Duration `json:"cut"`
	// Firmware is QEMU's start, the firmware and the kernel's
	// decompression: from QEMU's start to the kernel's clock starting,
	// measured as the host's time to /init's first console line less the
	// guest's uptime then. Zero when /init never ran.
	Firmware   time.Duration `json:"firmware"`
	KernelBoot time.Duration `json:"kernel_boot"` // the kernel's clock start to /init (QEMU start to /init when Firmware is zero)
	Init       time.Duration `json:"init"`        // /init to test start
	Test       time.Duration `json:"test"`        // the test itself
	Shutdown   time.Duration `json:"shutdown"`
}

func (t Timings) String() string {
	return fmt.Sprintf("build %s, cut %s, boot %s, test %s",
		round(t.Build), round(t.Cut), round(t.Firmware+t.KernelBoot+t.Init), round(t.Test))
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
