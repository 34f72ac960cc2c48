package vmrun

import (
	"errors"
	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/console"
	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

func scanLog(log string) []console.Event { return console.Scan(strings.NewReader(log)) }

func TestClassify(t *testing.T) {
	dir := t.TempDir()
	consoleLog := filepath.Join(dir, "console.log")
	var lines []string
	for i := 1; i <= 20; i++ {
		lines = append(lines, "boot line "+string(rune('a'+i)))
	}
	os.WriteFile(consoleLog, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	panicLog := "rapido-init: start\n[    1.0] Kernel panic - not syncing: Attempted to kill init!\n[    1.1] Call Trace:\n"
	warnLog := "[ 1.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\n[ 1.1] ---[ end trace 0 ]---\nrapido-verdict: exit=0\n"
	result := func(code int) []guest.Event {
		return []guest.Event{{Event: "init"}, {Event: "test-start"}, {Event: "result", ExitCode: code, Tail: []string{"out"}}}
	}
	for _, tc := range []struct {
		name    string
		o       bootOutcome
		status  Status
		reason  string
		excerpt []string
	}{
		{"pass", bootOutcome{guest: result(0)}, Pass, "test passed", nil},
		{"fail", bootOutcome{guest: result(3)}, Fail, "test exited 3", []string{"out"}},
		{"signal", bootOutcome{guest: []guest.Event{{Event: "result", ExitCode: 137, Signal: "killed", Tail: []string{"t"}}}},
			Fail, "test killed by killed", []string{"t"}},
		{"guest-timeout", bootOutcome{guest: []guest.Event{{Event: "result", ExitCode: 124, TimedOut: true, Tail: []string{"slow"}}}},
			Fail, "test timed out inside the guest", []string{"slow"}},
		{"guest-error", bootOutcome{guest: []guest.Event{{Event: "result", ExitCode: 126, Error: "load module foo: exit status 1", Tail: []string{"m"}}}},
			Fail, "load module foo: exit status 1", []string{"m"}},
		// A test that never started is "cannot test", with how to look
		// into the image; the shell's own 127 counts the same.
		{"not-found", bootOutcome{guest: result(127)}, Infra, cannotStartReason(127), []string{"out"}},
		{"not-executable", bootOutcome{guest: result(126)}, Infra, cannotStartReason(126), []string{"out"}},
		{"console-not-found", bootOutcome{events: scanLog("rapido-verdict: exit=127\n")}, Infra, cannotStartReason(127), nil},
		// Without the virtio channel, the console verdict line counts.
		{"console-verdict", bootOutcome{events: scanLog("rapido-init: start\nrapido-verdict: exit=4\n")}, Fail, "test exited 4", nil},
		{"console-pass", bootOutcome{events: scanLog("rapido-verdict: exit=0\n")}, Pass, "test passed", nil},
		// A kernel report wins over the test's own verdict.
		{"panic", bootOutcome{events: scanLog(panicLog), guest: result(0)}, Crash,
			"Kernel panic - not syncing: Attempted to kill init!",
			[]string{"Kernel panic - not syncing: Attempted to kill init!", "Call Trace:"}},
		{"warning-after-pass", bootOutcome{events: scanLog(warnLog), guest: result(0)}, Crash,
			"WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2",
			[]string{"WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2", "---[ end trace 0 ]---"}},
		{"hang", bootOutcome{timedOut: "the run exceeded its 10s timeout", consoleLog: consoleLog}, Hang,
			"the run exceeded its 10s timeout", lines[5:]},
		{"crash-while-hanging", bootOutcome{timedOut: "x", events: scanLog(panicLog)}, Crash,
			"Kernel panic - not syncing: Attempted to kill init!",
			[]string{"Kernel panic - not syncing: Attempted to kill init!", "Call Trace:"}},
		{"qemu-error", bootOutcome{qemuErr: errors.New("exit status 1"), qemuStderr: "qemu: could not load kernel\nmore"},
			Infra, "qemu: exit status 1: qemu: could not load kernel", []string{"qemu: could not load kernel", "more"}},
		{"no-verdict", bootOutcome{consoleLog: consoleLog}, Crash, "the VM stopped without a verdict (init died?)", lines[5:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verdict{}
			classify(v, &tc.o)
			if v.Status != tc.status || v.Reason != tc.reason || !slices.Equal(v.Excerpt, tc.excerpt) {
				t.Errorf("classify = %s %q %q; want %s %q %q", v.Status, v.Reason, v.Excerpt, tc.status, tc.reason, tc.excerpt)
			}
		})
	}
}

func TestCannotStartReason(t *testing.T) {
	for code, want := range map[int]string{127: "the test program was not found in the guest (exit 127)",
		126: "the test program could not be executed in the guest (exit 126)"} {
		r := cannotStartReason(code)
		if !strings.HasPrefix(r, "cannot test: "+want) || !strings.Contains(r, "git rapido cut <the same options> -o image.cpio") {
			t.Errorf("cannotStartReason(%d) = %q", code, r)
		}
	}
}

func TestOutcomeTimings(t *testing.T) {
	timings := func(o *bootOutcome) Timings { var tm Timings; o.setTimings(&tm); return tm }
	events := []guest.Event{{Event: "init", UptimeMS: 680}, {Event: "test-start", UptimeMS: 702}, {Event: "result", UptimeMS: 1201}}
	o := &bootOutcome{wall: 2 * time.Second, guest: events}
	if tm := timings(o); tm.Firmware != 0 || tm.KernelBoot != 680*time.Millisecond || tm.Init != 22*time.Millisecond ||
		tm.Test != 499*time.Millisecond || tm.Shutdown != 799*time.Millisecond {
		t.Errorf("timings = %+v", tm)
	}
	// /init's console line seen 1s after QEMU started, at 680ms of guest
	// uptime: 320ms passed before the kernel's clock started, and they are
	// not counted as shutdown.
	o = &bootOutcome{wall: 2 * time.Second, initWall: time.Second, guest: events}
	if tm := timings(o); tm.Firmware != 320*time.Millisecond || tm.KernelBoot != 680*time.Millisecond ||
		tm.Shutdown != 479*time.Millisecond {
		t.Errorf("timings with firmware = %+v", tm)
	}
	o = &bootOutcome{wall: 3 * time.Second}
	if tm := timings(o); tm.KernelBoot != 3*time.Second || tm.Firmware+tm.Init+tm.Test+tm.Shutdown != 0 {
		t.Errorf("timings without init = %+v; want all in the kernel boot", tm)
	}
	// Uptime beyond the host's wall clock (clock skew) gives no negative shutdown.
	o = &bootOutcome{wall: time.Second, guest: []guest.Event{{Event: "init", UptimeMS: 500}, {Event: "result", UptimeMS: 1500}}}
	if tm := timings(o); tm.Shutdown != 0 {
		t.Errorf("shutdown = %v; want 0", tm.Shutdown)
	}
}

func TestDryRun(t *testing.T) {
	cleanEnv(t)
	cache := os.Getenv("XDG_CACHE_HOME")
	s, err := SpecFromConfig(mapConfig{"rapido.accel": {"tcg"}, "rapido.kernelArgs": {"loglevel=7"},
		"rapido.qemuExtraArgs": {"-device virtio-rng-pci"}}, "/top", "/top/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(dryRun(t, s), " ")
	for _, want := range []string{
		"qemu-system-x86_64 -nodefaults -no-reboot",
		"-accel tcg",
		"-kernel /top/.git/rapido/build/arch/x86/boot/bzImage",
		"-initrd " + filepath.Join(cache, "git-rapido/images/<digest>.cpio"),
		"-append console=ttyS0 panic=-1 rdinit=/init rapido.guest=1 quiet loglevel=7",
		"-serial file:/top/.git/rapido/logs/<run>/console.log",
		"path=/top/.git/rapido/logs/<run>/verdict.jsonl",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("DryRun = %s\nlacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, " -device virtio-rng-pci") {
		t.Errorf("DryRun = %s; want the extra args last", got)
	}
	// arm64: its image, console and machine; programs from the sysroot,
	// the init built for arm64, and the cross compiler by default.
	t.Setenv("ARCH", "arm64")
	sysroot := arm64Sysroot(t)
	s, _ = SpecFromConfig(mapConfig{"rapido.accel": {"auto"}, "rapido.sysroot": {sysroot}}, "/top", "/top/.git/rapido")
	if s.Build.CrossCompile != "aarch64-linux-gnu-" && kbuild.HostArch() != "arm64" {
		t.Errorf("arm64 on a %s host: CrossCompile = %q, want Debian's aarch64-linux-gnu-", kbuild.HostArch(), s.Build.CrossCompile)
	}
	s.Cut.InitBinary = filepath.Join(sysroot, "bin", "busybox")
	argv, err := mustPlan(t, s).DryRun()
	if err != nil {
		t.Fatalf("arm64 DryRun: %v", err)
	}
	got = strings.Join(argv, " ")
	for _, want := range []string{"qemu-system-aarch64 ", "/arch/arm64/boot/Image", "console=ttyAMA0", "-machine virt -accel tcg -cpu cortex-a57"} {
		if !strings.Contains(got, want) {
			t.Errorf("arm64 DryRun = %s\nlacks %q", got, want)
		}
	}
	// Interactive: the console on stdio, no verdict channel.
	s.Interactive = true
	if argv, err = mustPlan(t, s).DryRun(); err != nil {
		t.Fatalf("interactive DryRun: %v", err)
	}
	got = strings.Join(argv, " ")
	if !strings.Contains(got, "-serial mon:stdio") || strings.Contains(got, "verdict") {
		t.Errorf("interactive DryRun = %s", got)
	}
}

// arm64Sysroot is a sysroot holding one static arm64 program as
// /bin/busybox: git rapido's guest init, built for arm64 by the Go
// toolchain (a static ELF of the right machine is all a plan checks).
func arm64Sysroot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(root, "bin", "busybox"),
		"github.com/git-rapido/git-rapido/cmd/rapido-init")
	cmd.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build rapido-init for arm64: %v\n%s", err, out)
	}
	return root
}

// dryRun plans s and returns its dry-run command line.
func dryRun(t *testing.T, s *Spec) []string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("SKIPPING: busybox (static, the stand-in /init) is not installed")
	}
	s.Cut.InitBinary = bb
	argv, err := mustPlan(t, s).DryRun()
	if err != nil {
		t.Fatalf("DryRun: %v", err)
	}
	return argv
}

func TestResolveAccel(t *testing.T) {
	cleanEnv(t)
	for _, want := range []string{"kvm", "tcg"} {
		if got, note := resolveAccel(want, "q", ""); got != want || note != "" {
			t.Errorf("resolveAccel(%s) = %s, %q", want, got, note)
		}
	}
	bin := filepath.Join(t.TempDir(), "qemu")
	os.WriteFile(bin, []byte("x"), 0o755)
	// A guest of another architecture is emulated whatever KVM can do,
	// even where KVM was seen to work; asking for kvm is taken literally.
	foreign := map[string]string{"x86_64": "arm64", "arm64": "x86_64"}[kbuild.HostArch()]
	rememberAccel(bin, true, "")
	if got, note := resolveAccel("auto", bin, foreign); got != "tcg" || note != "" {
		t.Errorf("auto for a %s guest on a %s host = %s, %q; want tcg", foreign, kbuild.HostArch(), got, note)
	}
	if got, _ := resolveAccel("kvm", bin, foreign); got != "kvm" {
		t.Errorf("kvm for a %s guest = %s; want kvm (what was asked)", foreign, got)
	}
	os.Remove(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "git-rapido", "accel.json"))
	if !qemu.KVMUsable() {
		if got, _ := resolveAccel("auto", bin, ""); got != "tcg" {
			t.Errorf("auto without /dev/kvm = %s; want tcg", got)
		}
		return
	}
	// First run: try KVM and say so.
	if got, note := resolveAccel("auto", bin, ""); got != "kvm" || !strings.Contains(note, "falls back to TCG") {
		t.Errorf("first auto = %s, %q", got, note)
	}
	// A remembered hang means TCG from then on, silently.
	rememberAccel(bin, false, "guest made no console progress under KVM")
	if got, note := resolveAccel("auto", bin, ""); got != "tcg" || note != "" {
		t.Errorf("auto after a KVM hang = %s, %q; want tcg", got, note)
	}
	rememberAccel(bin, true, "")
	if got, _ := resolveAccel("auto", bin, ""); got != "kvm" {
		t.Errorf("auto after KVM worked = %s; want kvm", got)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "git-rapido", "accel.json")); err != nil {
		t.Errorf("finding not stored under XDG_CACHE_HOME: %v", err)
	}
}
