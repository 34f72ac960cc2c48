// Package qemu builds QEMU command lines (a pure function, golden-tested),
// decides on acceleration, and runs QEMU so that nothing outlives the run.
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
	"github.com/git-rapido/git-rapido/vmrun/internal/tether"
)

// Config is everything that decides the QEMU command line.
type Config struct {
	Binary  string // qemu-system-x86_64
	Accel   string // kvm or tcg (resolved; see Accel)
	Memory  string // e.g. 512M
	CPUs    int
	Kernel  string
	Initrd  string
	Console string // guest console device: ttyS0
	// Machine is the -machine type ("" = QEMU's default, pc on x86_64;
	// virt for arm64). On MachineMicroVM there is no PCI bus: the verdict
	// channel and the network card are virtio-mmio devices. CPU is the
	// -cpu model under TCG (KVM takes the host's).
	Machine, CPU string
	ConsoleLog   string // host file receiving the serial console; "" = stdio (interactive)
	VerdictPath  string // host file receiving the guest's verdict events; "" = none
	KernelArgs   []string
	ExtraArgs    []string
	Interactive  bool // console on the terminal (git rapido boot)
	// Fast is the fast boot path (FastBoot): the kernel reboots by a
	// triple fault, which QEMU turns into its exit at once, instead of
	// trying ACPI and the keyboard controller first (microvm has
	// neither, and waits out each try); under TCG the kernel does not
	// calibrate the local APIC timer, which fails there after 200 ms.
	Fast bool
	// Net is the VM's network card; the zero value means none (and the
	// command line is as it was before networking existed).
	Net Net
	// Shares are host directories served over 9p or virtiofs (share.go).
	Shares []Share
	// Trace, when set, gets QEMU's command line just before it starts:
	// the runner prints it under GIT_TRACE as it does for git and make.
	Trace func(argv []string) `json:"-"`
}

// Network modes.
const (
	NetNone   = "none"   // no network card (-nodefaults gives none)
	NetUser   = "user"   // QEMU's user-mode stack, restricted, no root needed
	NetBridge = "bridge" // a tap device on the host bridge (git rapido net up)
)

// Net is one virtio network card and its host side.
type Net struct {
	Mode string // NetNone (or ""), NetUser or NetBridge
	MAC  string // the card's MAC address
	Tap  string // NetBridge: the host tap device
	// Forwards are user-mode port forwards from the host's 127.0.0.1 into
	// the guest (hostfwd); the guest can reach nothing else (restrict=on).
	Forwards []Forward
}

// Forward forwards a host port on 127.0.0.1 to a guest port.
type Forward struct {
	Proto     string // tcp or udp
	HostPort  int
	GuestPort int
}

// netArgs returns the -netdev/-device pair for n, or nothing.
func netArgs(n Net, machine string) []string {
	var backend string
	switch n.Mode {
	case NetUser:
		// restrict=on cuts the guest off from everything but the
		// forwards, and every forward listens on loopback only, so a test
		// VM is never reachable from, and never reaches, the network.
		backend = "user,id=net0,restrict=on"
		for _, f := range n.Forwards {
			proto := f.Proto
			if proto == "" {
				proto = "tcp"
			}
			backend += fmt.Sprintf(",hostfwd=%s:127.0.0.1:%d-:%d", proto, f.HostPort, f.GuestPort)
		}
	case NetBridge:
		// The tap exists already (git rapido net up, owned by the user
		// running QEMU): no helper scripts, no privileges needed here.
		backend = "tap,id=net0,ifname=" + n.Tap + ",script=no,downscript=no"
	default:
		return nil
	}
	dev := "virtio-net-pci,netdev=net0"
	if machine == MachineMicroVM {
		dev = "virtio-net-device,netdev=net0"
	}
	if n.MAC != "" {
		dev += ",mac=" + n.MAC
	}
	return []string{"-netdev", backend, "-device", dev}
}

// VerdictPortName is the virtio-serial port name the guest looks for.
const VerdictPortName = "rapido.verdict"

// BuildArgs returns QEMU's argv (without the binary).
func BuildArgs(c Config) []string {
	args := []string{"-nodefaults", "-no-reboot", "-display", "none"}
	if c.Machine == MachineMicroVM {
		// acpi=off: the kernel (tinyconfig has no ACPI) finds the
		// virtio-mmio devices on its command line, which QEMU adds.
		args = append(args, "-machine", MachineMicroVM+",acpi=off")
	} else if c.Machine != "" {
		args = append(args, "-machine", c.Machine)
	}
	switch c.Accel {
	case "kvm":
		args = append(args, "-accel", "kvm", "-cpu", "host")
	default:
		args = append(args, "-accel", "tcg")
		if c.CPU != "" {
			args = append(args, "-cpu", c.CPU)
		}
	}
	mem := c.Memory
	if mem == "" {
		mem = "512M"
	}
	cpus := c.CPUs
	if cpus < 1 {
		cpus = 1
	}
	args = append(args, "-m", mem, "-smp", fmt.Sprint(cpus), "-kernel", c.Kernel, "-initrd", c.Initrd)
	console := c.Console
	if console == "" {
		console = "ttyS0"
	}
	// The marker tells /init it is PID 1 of a VM git rapido booted (a
	// binary named init elsewhere refuses to act as the guest).
	cmdline := []string{"console=" + console, "panic=-1", "rdinit=/init", guest.KernelMarker}
	if !c.Interactive {
		cmdline = append(cmdline, "quiet")
	}
	if c.Fast {
		cmdline = append(cmdline, "reboot=t")
		if c.Accel != "kvm" {
			cmdline = append(cmdline, "noapictimer")
		}
	}
	cmdline = append(cmdline, c.KernelArgs...)
	args = append(args, "-append", strings.Join(cmdline, " "))
	if c.Interactive || c.ConsoleLog == "" {
		args = append(args, "-serial", "mon:stdio")
	} else {
		args = append(args, "-serial", "file:"+c.ConsoleLog)
	}
	if c.VerdictPath != "" {
		args = append(args,
			"-device", virtioSerial(c.Machine),
			// -chardev is a QemuOpts list: a comma in the path (a
			// worktree under "linux,v2") must be doubled. -serial
			// file:PATH takes the rest literally.
			"-chardev", "file,id=rapido,path="+strings.ReplaceAll(c.VerdictPath, ",", ",,"),
			"-device", "virtserialport,chardev=rapido,name="+VerdictPortName)
	}
	args = append(args, netArgs(c.Net, c.Machine)...)
	args = append(args, shareArgs(c.Shares, mem, c.ExtraArgs)...)
	return append(args, c.ExtraArgs...)
}

// MachineMicroVM is QEMU's minimal x86 machine: no PCI, no ACPI tables to
// parse, virtio-mmio devices announced on the kernel command line.
const MachineMicroVM = "microvm"

// virtioSerial is the virtio-serial controller for the machine's bus.
func virtioSerial(machine string) string {
	if machine == MachineMicroVM {
		return "virtio-serial-device"
	}
	return "virtio-serial-pci"
}

// Process is a running QEMU in its own process group.
type Process struct {
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	group bool // QEMU leads its own process group
}

// Start starts QEMU. stdio is inherited only for interactive runs. QEMU
// dies with git rapido whichever way git rapido ends (package tether).
func Start(binary string, args []string, interactive bool) (*Process, error) {
	cmd := exec.Command(binary, args...)
	if interactive {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	} else {
		// Its own process group, so a timeout or Ctrl-C kills QEMU and
		// anything it started, and a terminal's SIGINT reaches only us.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	done, err := tether.Start(cmd)
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("start %s: %w (install qemu-system-x86, or set RAPIDO_QEMU)", binary, err)
		}
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	return newProcess(cmd, done, !interactive), nil
}

// newProcess follows a QEMU started by tether.Start (so that it dies with
// git rapido, even of SIGKILL).
func newProcess(cmd *exec.Cmd, waited <-chan error, group bool) *Process {
	p := &Process{cmd: cmd, done: make(chan struct{}), group: group}
	go func() { p.err = <-waited; close(p.done) }()
	return p
}

// Done is closed when QEMU has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is QEMU's exit error, valid after Done.
func (p *Process) Err() error { return p.err }

// Pid is QEMU's process id (and process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Kill ends QEMU's whole process group and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// signal signals QEMU's process group, or QEMU alone when it runs
// interactively in ours (there is no group of its own to signal, and
// signalling ours would kill git rapido).
func (p *Process) signal(sig syscall.Signal) {
	if p.group {
		syscall.Kill(-p.cmd.Process.Pid, sig)
		return
	}
	p.cmd.Process.Signal(sig)
}

// Finding is what an acceleration probe learned on this host.
type Finding struct {
	Host   string    `json:"host"`   // host kernel release and QEMU binary
	KVM    bool      `json:"kvm"`    // whether guests make progress under KVM
	Reason string    `json:"reason"` // why not
	When   time.Time `json:"when"`
}

// FindingKey identifies the host for remembered findings.
func FindingKey(qemuBinary string) string {
	var u syscall.Utsname
	syscall.Uname(&u)
	rel := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	fi, _ := os.Stat(qemuBinary)
	stamp := ""
	if fi != nil {
		stamp = fi.ModTime().UTC().Format(time.RFC3339)
	}
	return string(rel) + " " + qemuBinary + " " + stamp
}

// LoadFinding reads a remembered finding for key from file.
func LoadFinding(file, key string) (Finding, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Finding{}, false
	}
	var fs map[string]Finding
	if json.Unmarshal(b, &fs) != nil {
		return Finding{}, false
	}
	f, ok := fs[key]
	return f, ok
}

// SaveFinding remembers f under key in file.
func SaveFinding(file, key string, f Finding) error {
	fs := map[string]Finding{}
	if b, err := os.ReadFile(file); err == nil {
		json.Unmarshal(b, &fs)
	}
	f.Host = key
	fs[key] = f
	b, _ := json.MarshalIndent(fs, "", "  ")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// KVMUsable reports whether /dev/kvm can be opened at all; a usable device
// is necessary but not sufficient (guests may still hang under it).
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Wait waits for QEMU to exit, or for ctx, whichever is first.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.Kill()
		return ctx.Err()
	}
}

// StartLogged starts a non-interactive QEMU with its stderr in errPath.
func StartLogged(binary string, args []string, errPath string) (*Process, error) {
	cmd := exec.Command(binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if f, err := os.Create(errPath); err == nil {
		cmd.Stderr = f
		defer f.Close()
	}
	done, err := tether.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w (install qemu-system-x86, or set RAPIDO_QEMU)", binary, err)
	}
	return newProcess(cmd, done, true), nil
}

// ParseForward parses a user-mode port forward "[tcp:|udp:]HOSTPORT:GUESTPORT"
// (rapido.net.hostfwd). There is no host address: forwards always listen
// on 127.0.0.1.
func ParseForward(s string) (Forward, error) {
	f := Forward{Proto: "tcp"}
	rest := s
	if p, r, ok := strings.Cut(s, ":"); ok && (p == "tcp" || p == "udp") {
		f.Proto, rest = p, r
	}
	h, g, ok := strings.Cut(rest, ":")
	var err1, err2 error
	if ok {
		f.HostPort, err1 = parsePort(h)
		f.GuestPort, err2 = parsePort(g)
	}
	if !ok || err1 != nil || err2 != nil {
		return Forward{}, fmt.Errorf("port forward %q: want [tcp:|udp:]HOSTPORT:GUESTPORT", s)
	}
	return f, nil
}

func parsePort(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != s {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}
