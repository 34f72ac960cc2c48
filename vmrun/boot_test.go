package vmrun

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/proctest"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// fakeQEMU plays QEMU for Run: it finds the console log and the verdict
// file in its arguments and behaves as $FAKE_QEMU_MODE says.
const fakeQEMU = `#!/bin/sh
while [ $# -gt 0 ]; do
	case "$1" in
	-serial) case "$2" in file:*) CONSOLE=${2#file:};; esac; shift ;;
	-accel) ACCEL=$2; shift ;;
	-kernel) KERNEL=$2; shift ;;
	-chardev) V=$(printf '%s' "${2#*path=}" | sed 's/,,/,/g'); shift ;;
	esac
	shift
done
echo $$ > "$FAKE_QEMU_PID"
# What QEMU loaded, for a test to compare.
[ -n "$FAKE_QEMU_KERNEL_COPY" ] && cp "$KERNEL" "$FAKE_QEMU_KERNEL_COPY"
say() { printf '%s\n' "$@" >> "$CONSOLE"; }
event() { printf '%s\n' "$@" >> "$V"; }
case $FAKE_QEMU_MODE in
pass|fail)
	code=0; [ $FAKE_QEMU_MODE = fail ] && code=3
	say "[    0.300000] Run /init as init process" "rapido-init: start"
	event '{"event":"init","uptime_ms":300}' '{"event":"test-start","uptime_ms":320}'
	say "test output"
	event "{\"event\":\"result\",\"exit_code\":$code,\"uptime_ms\":400,\"tail\":[\"test output\"]}"
	say "rapido-verdict: exit=$code" ;;
panic)
	say "[    0.300000] Kernel panic - not syncing: VFS: Unable to mount root fs" "[    0.300100] Call Trace:" ;;
silent)
	sleep 60 & wait ;;
stuck-test)
	say "rapido-init: start"
	sleep 60 & wait ;;
kvm-hangs)
	# A host whose KVM hangs guests: silent under KVM, fine under TCG.
	[ "$ACCEL" = kvm ] && exec sleep 60
	say "[    0.300000] Run /init as init process" "rapido-init: start"
	event '{"event":"init","uptime_ms":300}' '{"event":"test-start","uptime_ms":320}' '{"event":"result","exit_code":0,"uptime_ms":400}'
	say "rapido-verdict: exit=0" ;;
kvm-aborts)
	# A host whose KVM makes QEMU abort before the guest runs (seen on CI
	# machines: "failed to set MSR 0x10a"), fine under TCG.
	if [ "$ACCEL" = kvm ]; then
		echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
		kill -ABRT $$
	fi
	say "[    0.300000] Run /init as init process" "rapido-init: start"
	event '{"event":"init","uptime_ms":300}' '{"event":"test-start","uptime_ms":320}' '{"event":"result","exit_code":0,"uptime_ms":400}'
	say "rapido-verdict: exit=0" ;;
exec-stuck)
	# One process, as QEMU is: what its parent-death signal reaches.
	say "rapido-init: start"
	exec sleep 60 ;;
error)
	echo "qemu-system-x86_64: -kernel bzImage: could not open kernel" >&2
	exit 1 ;;
refuse-fast)
	# A QEMU that cannot take the fast path's arguments.
	if [ "${KERNEL##*/}" = vmlinux ]; then
		echo "qemu-system-x86_64: Error loading uncompressed kernel without PVH ELF Note" >&2
		exit 1
	fi
	say "[    0.300000] Run /init as init process" "rapido-init: start"
	event '{"event":"init","uptime_ms":300}' '{"event":"test-start","uptime_ms":320}' '{"event":"result","exit_code":0,"uptime_ms":400}'
	say "rapido-verdict: exit=0" ;;
esac
`

type fakeRun struct {
	spec    *Spec
	pidFile string
}

func newFakeRun(t *testing.T, mode string) *fakeRun {
	t.Helper()
	s, dir := digestSpec(t) // static busybox as /init, clean environment
	bin := filepath.Join(dir, "fake-qemu")
	if err := os.WriteFile(bin, []byte(fakeQEMU), 0o755); err != nil {
		t.Fatal(err)
	}
	kernel := filepath.Join(s.Build.BuildDir, "arch/x86/boot/bzImage")
	os.MkdirAll(filepath.Dir(kernel), 0o755)
	os.WriteFile(kernel, []byte("not really a kernel"), 0o644)
	os.MkdirAll(filepath.Join(s.Build.BuildDir, "include/config"), 0o755)
	os.WriteFile(filepath.Join(s.Build.BuildDir, "include/config/kernel.release"), []byte("6.1.0-fake\n"), 0o644)
	s.NoBuild = true
	s.QEMU.Binary = bin
	s.QEMU.Accel = "tcg"
	s.Cut.CacheDir = filepath.Join(dir, "images")
	// Generous by default: a loaded machine may take a while to start
	// even a shell script. Cases about timeouts set their own.
	s.BootTimeout = 10 * time.Second
	s.Timeout = 20 * time.Second
	s.Label = "abc123"
	pid := filepath.Join(dir, "qemu.pid")
	t.Setenv("FAKE_QEMU_MODE", mode)
	t.Setenv("FAKE_QEMU_PID", pid)
	return &fakeRun{spec: s, pidFile: pid}
}

// checkNoOrphans fails if anything of the fake QEMU's process group lives.
func (f *fakeRun) checkNoOrphans(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(f.pidFile)
	if err != nil {
		return // QEMU never ran
	}
	pgid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The group was signalled; give the signal a moment to land.
	deadline := time.Now().Add(2 * time.Second)
	for pgid > 0 && proctest.LiveInGroup(pgid) {
		if time.Now().After(deadline) {
			t.Errorf("processes of QEMU's group %d outlived the run", pgid)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withHook gives the run's cut a host hook whose run phase is runPhase
// (shell; the prepare phase does nothing).
func (f *fakeRun) withHook(t *testing.T, runPhase string) {
	t.Helper()
	dir := filepath.Dir(f.spec.Cut.Script)
	hook := "#!/bin/sh\n[ \"$1\" = run ] || exit 0\n" + runPhase
	if err := os.WriteFile(filepath.Join(dir, "hook.sh"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, "hooked.cut")
	if err := os.WriteFile(m, []byte("include base\nhost-hook hook.sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.spec.Cut.Manifest = m
}

func TestRunWithFakeQEMU(t *testing.T) {
	for _, tc := range []struct {
		mode          string
		boot, overall time.Duration // 0: the generous defaults
		status        Status
		reason        string
	}{
		{"pass", 0, 0, Pass, "test passed"},
		{"fail", 0, 0, Fail, "test exited 3"},
		{"panic", 0, 0, Crash, "Kernel panic - not syncing: VFS: Unable to mount root fs"},
		// Prints nothing at all: the boot timeout ends it.
		{"silent", 400 * time.Millisecond, 0, Hang, "no console output for 400ms before /init ran (boot timeout)"},
		// /init started, then nothing: the overall timeout (plus the
		// boot allowance) ends it.
		{"stuck-test", 2 * time.Second, 500 * time.Millisecond, Hang, "the run exceeded its 500ms timeout"},
		{"error", 0, 0, Infra, "qemu: exit status 1: qemu-system-x86_64: -kernel bzImage: could not open kernel"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			f := newFakeRun(t, tc.mode)
			if tc.boot > 0 {
				f.spec.BootTimeout = tc.boot
			}
			if tc.overall > 0 {
				f.spec.Timeout = tc.overall
			}
			v, err := Run(context.Background(), f.spec, Host{Progress: io.Discard})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if v.Status != tc.status || v.Reason != tc.reason {
				t.Errorf("verdict %s %q; want %s %q (excerpt %q)", v.Status, v.Reason, tc.status, tc.reason, v.Excerpt)
			}
			if v.KernelRelease != "6.1.0-fake" || !strings.Contains(filepath.Base(v.LogDir), "-abc123-") {
				t.Errorf("release %q, log dir %q", v.KernelRelease, v.LogDir)
			}
			// The run's files: QEMU's command, the console, the verdict.
			cmd, _ := os.ReadFile(filepath.Join(v.LogDir, "qemu.cmd"))
			if !strings.Contains(string(cmd), "-kernel "+filepath.Join(f.spec.Build.BuildDir, "arch/x86/boot/bzImage")) {
				t.Errorf("qemu.cmd = %q", cmd)
			}
			var saved Verdict
			b, _ := os.ReadFile(filepath.Join(v.LogDir, "verdict.json"))
			if err := json.Unmarshal(b, &saved); err != nil || saved.Status != tc.status {
				t.Errorf("verdict.json = %s (%v)", b, err)
			}
			if tc.status == Pass && (v.Timings.KernelBoot != 300*time.Millisecond || v.Timings.Test != 80*time.Millisecond) {
				t.Errorf("timings = %+v; want boot 300ms and test 80ms from the guest's events", v.Timings)
			}
			f.checkNoOrphans(t)
		})
	}
}

// withFastBoot installs the fake QEMU as <prefix>/bin/qemu-system-x86_64
// next to <prefix>/share/qemu/pvh.bin and bios-microvm.bin, and a vmlinux
// with the PVH entry in the build directory: this host and kernel offer
// the fast path. mmio says whether the kernel's .config has virtio-mmio.
func (f *fakeRun) withFastBoot(t *testing.T, mmio bool) (vmlinux string) {
	t.Helper()
	prefix := t.TempDir()
	bin := filepath.Join(prefix, "bin", "qemu-system-x86_64")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	os.MkdirAll(filepath.Join(prefix, "share", "qemu"), 0o755)
	if err := os.WriteFile(bin, []byte(fakeQEMU), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, rom := range []string{"pvh.bin", "bios-microvm.bin"} {
		os.WriteFile(filepath.Join(prefix, "share", "qemu", rom), []byte("rom"), 0o644)
	}
	vmlinux = filepath.Join(f.spec.Build.BuildDir, "vmlinux")
	if err := proctest.WriteKernelELF(vmlinux, "Xen", 18); err != nil {
		t.Fatal(err)
	}
	// A full build: the compressed image is made after vmlinux.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(vmlinux, old, old)
	config := "CONFIG_64BIT=y\nCONFIG_PVH=y\n"
	if mmio {
		config += "CONFIG_VIRTIO_MMIO=y\nCONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n"
	}
	os.WriteFile(filepath.Join(f.spec.Build.BuildDir, ".config"), []byte(config), 0o644)
	f.spec.QEMU.Binary = bin
	return vmlinux
}

// TestRunFastBoot: where QEMU boots PVH kernels and the kernel has the PVH
// entry, the boot takes the fast path, on microvm when the kernel has
// virtio-mmio and nothing asks for other devices; rapido.fastBoot=off, a
// kernel without the entry or a QEMU that refuses the fast path's
// arguments get QEMU's defaults (the last after one refused attempt, said
// on the progress output), and every one of them reaches its verdict.
func TestRunFastBoot(t *testing.T) {
	for _, tc := range []struct {
		name, mode, fastBoot string
		noPVH, mmio          bool
		extra                []string
		share                bool
		boot, kernel         string // kernel: "vmlinux" or "bzImage"
		microvm              bool
		note                 string
		vmlinuxOnly          bool // the last build made vmlinux only
		reason               string
	}{
		{name: "pc", mode: "pass", fastBoot: "auto", boot: "fast", kernel: "vmlinux"},
		{name: "microvm", mode: "pass", fastBoot: "auto", mmio: true, boot: "fast", kernel: "vmlinux", microvm: true},
		{name: "extra-args-keep-pc", mode: "pass", fastBoot: "auto", mmio: true, extra: []string{"-device", "virtio-rng-pci"}, boot: "fast", kernel: "vmlinux"},
		// A share is a virtio-9p-pci device: microvm has no PCI bus.
		{name: "share-keeps-pc", mode: "pass", fastBoot: "auto", mmio: true, share: true, boot: "fast", kernel: "vmlinux"},
		{name: "off", mode: "pass", fastBoot: "off", mmio: true, boot: "classic", kernel: "bzImage"},
		{name: "no-pvh-note", mode: "pass", fastBoot: "auto", mmio: true, noPVH: true, boot: "classic", kernel: "bzImage"},
		{name: "refused", mode: "refuse-fast", fastBoot: "auto", mmio: true, boot: "classic", kernel: "bzImage",
			note: "boot: fast boot failed (qemu-system-x86_64: Error loading uncompressed kernel without PVH ELF Note); booting with QEMU's defaults"},
		// --no-build after a build that made vmlinux only: the bzImage is
		// stale, and a boot that needs it cannot test rather than boot it.
		{name: "vmlinux-only-fast", mode: "pass", fastBoot: "auto", mmio: true, vmlinuxOnly: true, boot: "fast", kernel: "vmlinux", microvm: true},
		{name: "vmlinux-only-off", mode: "pass", fastBoot: "off", vmlinuxOnly: true, reason: "the last build made only vmlinux, not the compressed image"},
		{name: "vmlinux-only-refused", mode: "refuse-fast", fastBoot: "auto", vmlinuxOnly: true, reason: "the last build made only vmlinux, not the compressed image",
			note: "boot: fast boot failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRun(t, tc.mode)
			vmlinux := f.withFastBoot(t, tc.mmio)
			if tc.noPVH {
				proctest.WriteKernelELF(vmlinux, "Xen", 17)
				old := time.Now().Add(-time.Hour)
				os.Chtimes(vmlinux, old, old)
			}
			if tc.vmlinuxOnly {
				later := time.Now().Add(time.Minute)
				os.Chtimes(vmlinux, later, later)
			}
			f.spec.QEMU.FastBoot = tc.fastBoot
			f.spec.QEMU.ExtraArgs = tc.extra
			if tc.share {
				f.spec.Cut.Shares = []Share{{Host: t.TempDir(), Guest: "/mnt/x"}}
			}
			var progress bytes.Buffer
			v, err := Run(context.Background(), f.spec, Host{Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason != "" {
				if v.Status != Infra || !strings.Contains(v.Reason, tc.reason) || !strings.Contains(progress.String(), tc.note) {
					t.Errorf("verdict %s %q (progress %s); want infra %q", v.Status, v.Reason, progress.String(), tc.reason)
				}
				f.checkNoOrphans(t)
				return
			}
			if v.Status != Pass || v.Boot != tc.boot {
				t.Errorf("verdict %s %q boot %q; want pass, boot %q (progress %s)", v.Status, v.Reason, v.Boot, tc.boot, progress.String())
			}
			cmd, _ := os.ReadFile(filepath.Join(v.LogDir, "qemu.cmd"))
			kernel := vmlinux
			if tc.kernel == "bzImage" {
				kernel = filepath.Join(f.spec.Build.BuildDir, "arch/x86/boot/bzImage")
			}
			if !strings.Contains(string(cmd), "-kernel "+kernel+" ") || strings.Contains(string(cmd), "microvm") != tc.microvm ||
				strings.Contains(string(cmd), "reboot=t") != (tc.boot == "fast") {
				t.Errorf("qemu.cmd = %s; want -kernel %s, microvm %t", cmd, kernel, tc.microvm)
			}
			if tc.microvm && !strings.Contains(string(cmd), "-device virtio-serial-device ") {
				t.Errorf("qemu.cmd = %s; want the verdict channel on virtio-mmio", cmd)
			}
			if tc.note != "" && !strings.Contains(progress.String(), tc.note) {
				t.Errorf("progress = %q; want %q", progress.String(), tc.note)
			}
			if tc.note == "" && strings.Contains(progress.String(), "fast boot failed") {
				t.Errorf("progress = %q; a fallback without a refusal", progress.String())
			}
			f.checkNoOrphans(t)
		})
	}
}

// TestRunCancelled: Ctrl-C during the boot ends QEMU and everything it
// started, and Run says it was cancelled.
func TestRunCancelled(t *testing.T) {
	f := newFakeRun(t, "stuck-test")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(f.pidFile); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := Run(ctx, f.spec, Host{})
	if err != context.Canceled {
		t.Errorf("Run = %v; want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v to notice the cancel", d)
	}
	f.checkNoOrphans(t)
}

// TestRunNoBuildWithoutKernel: --no-build before any build cannot test.
func TestRunNoBuildWithoutKernel(t *testing.T) {
	f := newFakeRun(t, "pass")
	os.Remove(filepath.Join(f.spec.Build.BuildDir, "arch/x86/boot/bzImage"))
	v, err := Run(context.Background(), f.spec, Host{})
	if err != nil || v.Status != Infra || !strings.Contains(v.Reason, "no kernel built yet") {
		t.Errorf("Run = %+v, %v; want infra: no kernel built yet", v, err)
	}
}

// TestHookRunSeesConsole: a cut's host hook starts its run phase next to
// QEMU and may read $RAPIDO_CONSOLE at once; the console file must exist
// before any hook starts (it once was created after, and the check below
// failed about half the time).
func TestHookRunSeesConsole(t *testing.T) {
	f := newFakeRun(t, "pass")
	f.withHook(t, "[ -f \"$RAPIDO_CONSOLE\" ] && [ -f \"$RAPIDO_RUNDIR/verdict.jsonl\" ] || exit 7\n")
	// The race lost about one run in two: twenty runs make a pass of the
	// old code a one-in-a-million event.
	for i := 0; i < 20; i++ {
		v, err := Run(context.Background(), f.spec, Host{Progress: io.Discard})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if v.Status != Pass {
			t.Fatalf("run %d: verdict %s %q; want pass (the hook did not see the console file)", i, v.Status, v.Reason)
		}
	}
	f.checkNoOrphans(t)
}

// TestQEMUDiesWithGitRapido: SIGKILL of git rapido (here a helper process
// running Run) takes QEMU and the cut's host hook with it. They used to be
// reparented to PID 1 and run on.
func TestQEMUDiesWithGitRapido(t *testing.T) {
	if dir := os.Getenv("RAPIDO_ORPHAN_HELPER"); dir != "" {
		orphanHelper(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestQEMUDiesWithGitRapido$", "-test.count=1")
	// The helper is killed before its own cleanup: its temporary files
	// go under ours.
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o755)
	cmd.Env = append(os.Environ(), "RAPIDO_ORPHAN_HELPER="+dir, "TMPDIR="+tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{"QEMU": 0, "host hook": 0}
	files := map[string]string{"QEMU": "qemu.pid", "host hook": "hook.pid"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		missing := false
		for name, f := range files {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			pids[name], _ = strconv.Atoi(strings.TrimSpace(string(b)))
			missing = missing || pids[name] == 0
		}
		if !missing {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the helper never started QEMU and the hook:\n%s", out.String())
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	for name, pgid := range pids {
		deadline := time.Now().Add(2 * time.Second)
		for proctest.LiveInGroup(pgid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if proctest.LiveInGroup(pgid) {
			syscall.Kill(-pgid, syscall.SIGKILL)
			t.Errorf("%s (process group %d) outlived git rapido's SIGKILL", name, pgid)
		}
	}
}

// orphanHelper is the git rapido that gets killed: a run whose QEMU and
// host hook would both run for a minute.
func orphanHelper(t *testing.T, dir string) {
	f := newFakeRun(t, "exec-stuck")
	t.Setenv("FAKE_QEMU_PID", filepath.Join(dir, "qemu.pid"))
	f.withHook(t, "echo $$ > "+filepath.Join(dir, "hook.pid")+"\nexec sleep 60\n")
	f.spec.Timeout = time.Minute
	Run(context.Background(), f.spec, Host{Progress: io.Discard})
}

// TestKVMFallback: under auto acceleration the first run on a host tries
// KVM; a guest that stays silent for the KVM probe window falls back to TCG,
// and the finding is remembered. A boot timeout shorter than the probe
// window once turned that silence into a cached "hang" verdict instead.
func TestKVMFallback(t *testing.T) {
	defer func(w time.Duration, u func() bool) { kvmProbeWindow, kvmUsable = w, u }(kvmProbeWindow, kvmUsable)
	kvmProbeWindow = 1500 * time.Millisecond
	kvmUsable = func() bool { return true }
	f := newFakeRun(t, "kvm-hangs")
	f.spec.QEMU.Accel = "auto"
	f.spec.BootTimeout = 300 * time.Millisecond // shorter than the probe window
	var progress bytes.Buffer
	v, err := Run(context.Background(), f.spec, Host{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != Pass || v.Accel != "tcg" {
		t.Fatalf("verdict %s %q under %q; want a pass under tcg after the KVM probe\n%s", v.Status, v.Reason, v.Accel, progress.String())
	}
	if !strings.Contains(progress.String(), "falling back to TCG") {
		t.Errorf("progress does not tell of the fallback:\n%s", progress.String())
	}
	fd, ok := qemu.LoadFinding(accelFile(), qemu.FindingKey(f.spec.QEMU.Binary))
	if !ok || fd.KVM {
		t.Errorf("remembered finding %+v (found %v); want KVM unusable", fd, ok)
	}
	f.checkNoOrphans(t)

	// The same with an overall timeout shorter than the probe window.
	os.Remove(accelFile())
	f.spec.BootTimeout, f.spec.Timeout = 10*time.Second, 200*time.Millisecond
	if v, err = Run(context.Background(), f.spec, Host{Progress: io.Discard}); err != nil || v.Status != Pass || v.Accel != "tcg" {
		t.Fatalf("with a 200ms timeout: %v, verdict %s %q under %q; want a pass under tcg", err, v.Status, v.Reason, v.Accel)
	}

	// The next run believes the finding: TCG at once, no probe.
	start := time.Now()
	v, err = Run(context.Background(), f.spec, Host{Progress: io.Discard})
	cmd, _ := os.ReadFile(filepath.Join(v.LogDir, "qemu.cmd"))
	if err != nil || v.Status != Pass || !strings.Contains(string(cmd), "-accel tcg") || time.Since(start) > kvmProbeWindow {
		t.Errorf("second run: %v, verdict %s, cmd %s in %v; want tcg without probing", err, v.Status, cmd, time.Since(start))
	}
}

// TestKVMAbortFallback: QEMU that dies under KVM before the guest printed
// anything (an unsupported MSR, a broken nested KVM) is a host that cannot
// use KVM, not an infrastructure failure of the test: auto acceleration
// falls back to TCG and remembers it.
func TestKVMAbortFallback(t *testing.T) {
	defer func(u func() bool) { kvmUsable = u }(kvmUsable)
	kvmUsable = func() bool { return true }
	f := newFakeRun(t, "kvm-aborts")
	f.spec.QEMU.Accel = "auto"
	var progress bytes.Buffer
	v, err := Run(context.Background(), f.spec, Host{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != Pass || v.Accel != "tcg" {
		t.Fatalf("verdict %s %q under %q; want a pass under tcg after QEMU died under KVM\n%s", v.Status, v.Reason, v.Accel, progress.String())
	}
	if !strings.Contains(progress.String(), "falling back to TCG") {
		t.Errorf("progress does not tell of the fallback:\n%s", progress.String())
	}
	if fd, ok := qemu.LoadFinding(accelFile(), qemu.FindingKey(f.spec.QEMU.Binary)); !ok || fd.KVM || !strings.Contains(fd.Reason, "MSR") {
		t.Errorf("remembered finding %+v (found %v); want KVM unusable with QEMU's reason", fd, ok)
	}
	// An explicit kvm is what the user asked for: no fallback.
	f.spec.QEMU.Accel = "kvm"
	if v, err = Run(context.Background(), f.spec, Host{Progress: io.Discard}); err != nil || v.Status != Infra {
		t.Errorf("with accel kvm: %v, verdict %s; want infra", err, v.Status)
	}
	f.checkNoOrphans(t)
}

// TestKVMWorks: a KVM guest that boots is remembered as working.
func TestKVMWorks(t *testing.T) {
	defer func(u func() bool) { kvmUsable = u }(kvmUsable)
	kvmUsable = func() bool { return true }
	f := newFakeRun(t, "pass")
	f.spec.QEMU.Accel = "auto"
	v, err := Run(context.Background(), f.spec, Host{Progress: io.Discard})
	if err != nil || v.Status != Pass || v.Accel != "kvm" {
		t.Fatalf("Run = %v, verdict %s under %q; want a pass under kvm", err, v.Status, v.Accel)
	}
	if fd, ok := qemu.LoadFinding(accelFile(), qemu.FindingKey(f.spec.QEMU.Binary)); !ok || !fd.KVM {
		t.Errorf("remembered finding %+v (found %v); want KVM usable", fd, ok)
	}
}

// TestDetachedFastBootKeepsVmlinux: a series' slot builds the next commit
// while this one waits to boot (BuildPlan with detach), so the fast boot
// must boot a copy of this commit's vmlinux, not the build directory's,
// which the next build relinks.
func TestDetachedFastBootKeepsVmlinux(t *testing.T) {
	f := newFakeRun(t, "pass")
	vmlinux := f.withFastBoot(t, true)
	f.spec.QEMU.FastBoot = "auto"
	ctx := context.Background()
	p, err := NewPlan(f.spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildPlan(ctx, p, Host{Progress: io.Discard}, true)
	if err != nil || b.Done() {
		t.Fatalf("BuildPlan: %v (verdict %+v)", err, b.Verdict())
	}
	want, _ := os.ReadFile(vmlinux)
	// The slot's next build relinks vmlinux before this commit boots.
	if err := os.WriteFile(vmlinux, []byte("the next commit's kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := filepath.Join(t.TempDir(), "loaded")
	t.Setenv("FAKE_QEMU_KERNEL_COPY", loaded)
	v, err := b.Boot(ctx)
	if err != nil || v.Status != Pass || v.Boot != "fast" {
		t.Fatalf("Boot: %v, verdict %s %q boot %q", err, v.Status, v.Reason, v.Boot)
	}
	cmd, _ := os.ReadFile(filepath.Join(v.LogDir, "qemu.cmd"))
	kept := filepath.Join(v.LogDir, "vmlinux")
	if !strings.Contains(string(cmd), "-kernel "+kept+" ") {
		t.Fatalf("qemu.cmd = %s; want -kernel %s (this commit's copy)", cmd, kept)
	}
	if got, _ := os.ReadFile(loaded); !bytes.Equal(got, want) {
		t.Error("the booted vmlinux is not the one this commit built")
	}
	if _, err := os.Stat(kept); err == nil {
		t.Error("the copy of vmlinux outlived the boot")
	}
	f.checkNoOrphans(t)
}
