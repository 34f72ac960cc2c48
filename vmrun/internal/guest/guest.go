// Package guest is git rapido's PID 1 inside the test VM. The image's /init
// is the small static rapido-init built for the guest's architecture
// (cmd/rapido-init, through vmrun/guestinit), or, for a guest of the host's
// architecture without one, the static git-rapido binary itself; both ask
// Entry, which runs Main only as PID 1 of a kernel booted with KernelMarker
// (see detect.go).
//
// # Protocol with the host
//
// The cut writes the test to run as JSON at SpecPath. The host adds a
// virtio-serial port named PortName; the guest finds it by scanning
// /sys/class/virtio-ports/*/name and writes one JSON Event per line:
//
//	{"event":"init","uptime_ms":680}
//	{"event":"test-start","uptime_ms":702}
//	{"event":"result","exit_code":0,"timed_out":false,"uptime_ms":1201,"tail":["..."]}
//
// The same milestones are printed on the console ("rapido-init: start",
// ConsoleVerdictPrefix+"exit=N") so a kernel without virtio still yields a
// verdict. Then the guest asks the kernel to restart: with QEMU's -no-reboot
// that ends QEMU at once, while a power-off on a kernel without ACPI would
// only halt the CPU and leave QEMU running.
package guest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// ProtocolVersion names the guest's behaviour as the verdict cache sees
	// it: how /init reads SpecPath, runs the test, times it out, and reports
	// (events, console lines, exit codes). The cache key holds it instead of
	// the bytes of the git-rapido installed as /init, so rebuilding or
	// upgrading git-rapido keeps every verdict. Bump it whenever a change
	// here could turn one verdict into another.
	ProtocolVersion = 1
	// SpecPath is where the cut puts the guest's instructions.
	SpecPath = "/rapido/spec.json"
	// PortName names the virtio-serial port that carries Events.
	PortName = "rapido.verdict"
	// ConsoleInitLine is printed on the console when /init starts.
	ConsoleInitLine = "rapido-init: start"
	// ConsoleTestPrefix starts every console line the test printed (the
	// host's console scanner skips such lines when looking for kernel
	// reports; console.TestOutputPrefix is the same string).
	ConsoleTestPrefix = "rapido-test| "
	// ConsoleVerdictPrefix starts the console line that carries the exit code.
	ConsoleVerdictPrefix = "rapido-verdict: "
	guestPath            = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// tailLines is how much of the test's output the result event carries.
	tailLines = 40
)

// Spec tells the guest what to do. The cut writes it; Main reads it.
type Spec struct {
	// Autorun scripts run in order; the first failure ends the test.
	Autorun []string `json:"autorun,omitempty"`
	// Command runs after the autorun scripts, if set.
	Command []string `json:"command,omitempty"`
	// Modules are loaded with modprobe before the test.
	Modules []string `json:"modules,omitempty"`
	// Timeout bounds the test (autorun + command); 0 means none.
	TimeoutSec int               `json:"timeout_sec,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Hostname   string            `json:"hostname,omitempty"`
	// Shell starts an interactive shell on the console instead of a test.
	Shell bool `json:"shell,omitempty"`
	// Shares are host directories to mount before the test (share.go).
	Shares []Share `json:"shares,omitempty"`
	// Dir is the directory the test starts in ("/" when empty).
	Dir string `json:"dir,omitempty"`
	// BootCheck runs the boot cut's check in /init itself, before any
	// autorun script: print what booted (uname) and read /proc/version.
	// It needs no shell, so the boot cut carries no busybox.
	BootCheck bool `json:"boot_check,omitempty"`
}

// Event is one line on the verdict port.
type Event struct {
	Event    string   `json:"event"` // init, test-start, result
	UptimeMS int64    `json:"uptime_ms"`
	ExitCode int      `json:"exit_code"`
	Signal   string   `json:"signal,omitempty"`
	TimedOut bool     `json:"timed_out,omitempty"`
	Tail     []string `json:"tail,omitempty"`
	Error    string   `json:"error,omitempty"` // the guest could not run the test
	// Infra says the test could not run for want of something outside
	// the code under test (a share that did not mount): cannot test.
	Infra bool `json:"infra,omitempty"`
}

// Main runs as PID 1 and never returns normally: it restarts the machine.
func Main() int {
	// The kernel starts init with no PATH; commands such as "sh -c" are
	// looked up through ours.
	os.Setenv("PATH", guestPath)
	console := openConsole()
	fmt.Fprintln(console, ConsoleInitLine)
	if err := mountAll(); err != nil {
		fmt.Fprintf(console, "rapido-init: %v\n", err)
	}
	port := openPort()
	emit(console, port, Event{Event: "init", UptimeMS: uptimeMS()})
	installBusybox(console)
	boot, err := readBoot()
	if err != nil {
		fmt.Fprintf(console, "rapido-init: %v\n", err)
	}
	configureNet(console, boot)

	res := run(console, port, boot)
	emit(console, port, res)
	fmt.Fprintf(console, "%sexit=%d\n", ConsoleVerdictPrefix, res.ExitCode)
	if port != nil {
		port.Sync()
		port.Close()
	}
	shutdown()
	return res.ExitCode
}

func run(console io.Writer, port *os.File, boot Boot) Event {
	spec, err := readSpec(SpecPath)
	if err != nil {
		return Event{Event: "result", ExitCode: 126, Error: err.Error(), UptimeMS: uptimeMS()}
	}
	// The kernel command line names this VM among several booting the
	// same image; it wins over the image's hostname.
	if boot.Hostname != "" {
		spec.Hostname = boot.Hostname
	}
	for k, v := range boot.Env() {
		if spec.Env == nil {
			spec.Env = map[string]string{}
		}
		if _, set := spec.Env[k]; !set {
			spec.Env[k] = v
		}
	}
	if spec.Hostname != "" {
		syscall.Sethostname([]byte(spec.Hostname))
	}
	env := guestEnv(spec.Env)
	for _, m := range spec.Modules {
		out, err := exec.Command("modprobe", m).CombinedOutput()
		if err != nil {
			msg := fmt.Sprintf("load module %s: %v: %s", m, err, strings.TrimSpace(string(out)))
			return Event{Event: "result", ExitCode: 126, Error: msg, Tail: []string{msg}, UptimeMS: uptimeMS()}
		}
	}
	if err := mountShares(spec.Shares); err != nil {
		msg := err.Error()
		return Event{Event: "result", ExitCode: 126, Error: msg, Tail: []string{msg}, Infra: true, UptimeMS: uptimeMS()}
	}
	if spec.Shell {
		shell(console, env)
		return Event{Event: "result", ExitCode: 0, UptimeMS: uptimeMS()}
	}
	emit(console, port, Event{Event: "test-start", UptimeMS: uptimeMS()})
	return runTest(console, spec, env)
}

// startFailureCode is the exit status a shell gives a command it could not
// start: 127 when it does not exist, 126 when it exists but cannot be
// executed (no x bit, not a binary this kernel runs). The host reads both
// as "cannot test", not as a failure of the code under test.
func startFailureCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}

// runTest runs the autorun scripts and the command with the spec's
// timeout, and returns the result event.
func runTest(console io.Writer, spec *Spec, env []string) Event {
	ctx := context.Background()
	if spec.TimeoutSec > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(spec.TimeoutSec)*time.Second)
		defer cancel()
	}
	tail := &tailWriter{max: tailLines}
	// On the console every line of the test's output carries a prefix, so
	// the host's scanner never mistakes "WARNING: ..." printed by a test for
	// the kernel's; the tail (the failure excerpt) keeps the lines as is.
	prefixed := &linePrefixer{w: console, prefix: []byte(ConsoleTestPrefix)}
	defer prefixed.Flush()
	out := io.MultiWriter(prefixed, tail)
	steps := append([][]string(nil), nil...)
	for _, s := range spec.Autorun {
		steps = append(steps, []string{"/bin/sh", s})
	}
	if len(spec.Command) > 0 {
		steps = append(steps, spec.Command)
	}
	res := Event{Event: "result"}
	dir := "/"
	if spec.Dir != "" {
		dir = spec.Dir
		env = append(env, "PWD="+dir)
	}
	if spec.BootCheck {
		if err := bootCheck(out); err != nil {
			fmt.Fprintf(out, "rapido-init: boot check: %v\n", err)
			res.ExitCode = 1
			res.Tail = tail.lines()
			res.UptimeMS = uptimeMS()
			return res
		}
	}
	for _, argv := range steps {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = env, out, out, dir
		// Own process group, so a timeout kills the test's children too.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		// A background process left by the test ("server &") keeps the
		// output pipe open: the step is over when its process exits, so
		// stop waiting for the pipe soon after (without this, Run waits
		// for the straggler, past the timeout or forever).
		cmd.WaitDelay = time.Second
		err := cmd.Run()
		if errors.Is(err, exec.ErrWaitDelay) {
			err = nil // exited 0; only its output pipe was held open
		}
		if ctx.Err() == context.DeadlineExceeded {
			fmt.Fprintf(out, "rapido-init: test timed out after %ds\n", spec.TimeoutSec)
			res.TimedOut, res.ExitCode = true, 124
			break
		}
		var ee *exec.ExitError
		switch {
		case err == nil:
			continue
		case errors.As(err, &ee):
			res.ExitCode = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.Signal = ws.Signal().String()
				res.ExitCode = 128 + int(ws.Signal())
			}
		default:
			fmt.Fprintf(out, "rapido-init: cannot run %s: %v\n", argv[0], err)
			res.ExitCode = startFailureCode(err)
		}
		break
	}
	res.Tail = tail.lines()
	res.UptimeMS = uptimeMS()
	return res
}

func readSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read test spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read test spec: %s: %w", path, err)
	}
	return &s, nil
}

func guestEnv(extra map[string]string) []string {
	env := []string{"PATH=" + guestPath, "HOME=/root", "TERM=linux"}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

func shell(console io.Writer, env []string) {
	fmt.Fprintln(console, "rapido: interactive shell; 'exit' or Ctrl-D ends the VM")
	tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(console, "rapido-init: open console: %v\n", err)
		return
	}
	cmd := exec.Command("/bin/sh", "-l")
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	cmd.Run()
}

func mountAll() error {
	var errs []error
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tmpfs", "/run", "tmpfs"},
	} {
		if m.dst == "/proc" && procMounted() {
			continue // Entry mounted it to read the kernel command line
		}
		os.MkdirAll(m.dst, 0o755)
		if err := syscall.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s: %w", m.dst, err))
		}
	}
	return errors.Join(errs...)
}

// installBusybox links busybox's applets into place when the image carries
// busybox but no shell, so cuts need only "bin busybox".
func installBusybox(console io.Writer) {
	if _, err := os.Stat("/bin/sh"); err == nil {
		return
	}
	for _, bb := range []string{"/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"} {
		if _, err := os.Stat(bb); err != nil {
			continue
		}
		for _, d := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin"} {
			os.MkdirAll(d, 0o755)
		}
		if out, err := exec.Command(bb, "--install", "-s").CombinedOutput(); err != nil {
			fmt.Fprintf(console, "rapido-init: busybox --install: %v: %s\n", err, out)
		}
		return
	}
}

func openConsole() io.Writer {
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		return f
	}
	return os.Stdout
}

// openPort finds the virtio-serial port named PortName.
func openPort() *os.File {
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != PortName {
			continue
		}
		f, err := os.OpenFile("/dev/"+filepath.Base(filepath.Dir(n)), os.O_WRONLY, 0)
		if err == nil {
			return f
		}
	}
	return nil
}

func emit(console io.Writer, port *os.File, e Event) {
	if port == nil {
		return
	}
	b, _ := json.Marshal(e)
	port.Write(append(b, '\n'))
}

func uptimeMS() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return int64(f * 1000)
}

func shutdown() {
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
	// Reboot only returns on failure; PID 1 must not exit (the kernel
	// would panic with "Attempted to kill init"), so wait to be killed.
	select {}
}

// ParseEvents reads the verdict port's file as the host sees it.
func ParseEvents(r io.Reader) ([]Event, error) {
	var evs []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return evs, fmt.Errorf("parse verdict event %q: %w", line, err)
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// tailWriter keeps the last max lines written to it.
// linePrefixer writes whole lines to w, each starting with prefix.
type linePrefixer struct {
	w       io.Writer
	prefix  []byte
	partial []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := append(append(append([]byte(nil), l.prefix...), l.partial[:i]...), '\n')
		l.partial = l.partial[i+1:]
		if _, err := l.w.Write(line); err != nil {
			return len(p), err
		}
	}
}

// Flush writes a last line that had no newline.
func (l *linePrefixer) Flush() {
	if len(l.partial) > 0 {
		l.Write([]byte("\n"))
	}
}

type tailWriter struct {
	max     int
	partial []byte
	buf     []string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.partial = append(t.partial, p...)
	for {
		i := strings.IndexByte(string(t.partial), '\n')
		if i < 0 {
			break
		}
		t.buf = append(t.buf, string(t.partial[:i]))
		t.partial = t.partial[i+1:]
		if len(t.buf) > t.max {
			t.buf = t.buf[len(t.buf)-t.max:]
		}
	}
	return len(p), nil
}

func (t *tailWriter) lines() []string {
	out := append([]string(nil), t.buf...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	return out
}

// bootCheck is the boot cut's test, done by /init: the kernel came up far
// enough to run it, says what it is (as "uname -a" would), and serves
// /proc/version.
func bootCheck(out io.Writer) error {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	fmt.Fprintf(out, "%s %s %s %s %s\n", utsString(u.Sysname[:]), utsString(u.Nodename[:]),
		utsString(u.Release[:]), utsString(u.Version[:]), utsString(u.Machine[:]))
	b, err := os.ReadFile("/proc/version")
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return fmt.Errorf("/proc/version is empty")
	}
	return nil
}

// utsString turns a NUL-padded utsname field into a string.
func utsString[T int8 | uint8](f []T) string {
	b := make([]byte, 0, len(f))
	for _, c := range f {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
