// Package fakeqemu is a test double for qemu-system-*, registered as
// "fake-qemu" in the hermetic CLI tier. It parses QEMU's argv itself (never
// through vmrun's builder, which would make the test circular), checks the
// kernel and that the initramfs is a newc archive with an executable /init,
// then plays the scenario named in the kernel file written by fake-make:
// pass, fail, not-found, not-executable, oops, panic, kasan, warn, hang,
// silent, qemu-crash, flaky. Shares (-fsdev local + virtio-9p-pci) are
// checked as QEMU does (a missing directory stops it) and logged; the fake
// guest writes a file into each writable one. A virtiofs share (a socket
// -chardev for vhost-user-fs-pci) is connected to, as QEMU does, and
// stays connected while the fake runs. Only _test.go files may import it.
package fakeqemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
)

// Main is the fake's entry point.
func Main() {
	var kernel, initrd, console, verdict string
	var fsdevs, sockets []string
	socketOf := map[int]*string{}   // socket index -> its chardev id
	fsChardevs := map[string]bool{} // chardevs of vhost-user-fs-pci
	args := os.Args[1:]
	for i := 0; i+1 < len(args); i++ {
		v := args[i+1]
		switch args[i] {
		case "-kernel":
			kernel = v
		case "-initrd":
			initrd = v
		case "-serial":
			console = strings.TrimPrefix(v, "file:")
		case "-fsdev":
			fsdevs = append(fsdevs, v)
		case "-chardev":
			id := ""
			for _, kv := range strings.Split(strings.ReplaceAll(v, ",,", "\x00"), ",") {
				kv = strings.ReplaceAll(kv, "\x00", ",")
				if x, ok := strings.CutPrefix(kv, "id="); ok {
					id = x
				}
				if p, ok := strings.CutPrefix(kv, "path="); ok {
					if strings.HasPrefix(v, "socket,") {
						sockets = append(sockets, p)
						socketOf[len(sockets)-1] = &id
					} else {
						verdict = p
					}
				}
			}
		case "-device":
			if strings.HasPrefix(v, "vhost-user-fs-pci,") {
				for _, kv := range strings.Split(v, ",") {
					if x, ok := strings.CutPrefix(kv, "chardev="); ok {
						fsChardevs[x] = true
					}
				}
			}
		}
	}
	// FAKE_QEMU_LOG counts the starts: a test asserts that a cache hit
	// started no VM, or that --repeat started one per run.
	if log := os.Getenv("FAKE_QEMU_LOG"); log != "" {
		if f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, "qemu start")
			f.Close()
		}
	}
	shares(fsdevs)
	for i, sock := range sockets {
		c, err := net.Dial("unix", sock)
		if err != nil {
			fail("-chardev socket,path=%s: Failed to connect to '%s': %v", sock, sock, err)
		}
		defer c.Close()
		// A virtiofs daemon answers once it has served the share (the
		// fake's stand-in for vhost-user's handshake): the guest runs
		// only then, as it would with a real one.
		if id := socketOf[i]; id != nil && fsChardevs[*id] {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				fail("vhost-user-fs %s: no answer from the daemon: %v", sock, err)
			}
		}
	}
	kb, err := os.ReadFile(kernel)
	if err != nil {
		fail("could not open kernel file '%s': %v", kernel, err)
	}
	if err := checkInitrd(initrd); err != nil {
		fail("initrd %s: %v", initrd, err)
	}
	scenario := "pass"
	if _, s, ok := strings.Cut(strings.TrimSpace(string(kb)), "scenario="); ok {
		scenario = s
	}
	con := io.Discard
	if f, err := os.OpenFile(console, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		defer f.Close()
		con = f
	}
	var port io.Writer = io.Discard
	if verdict != "" {
		if f, err := os.OpenFile(verdict, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			defer f.Close()
			port = f
		}
	}
	event := func(e map[string]any) {
		b, _ := json.Marshal(e)
		port.Write(append(b, '\n'))
	}
	boot := func() {
		fmt.Fprintln(con, "[    0.000000] Linux version 6.1.0-fake (fake@rapido) #1")
		fmt.Fprintln(con, "rapido-init: start")
		event(map[string]any{"event": "init", "uptime_ms": 700})
		event(map[string]any{"event": "test-start", "uptime_ms": 720})
	}
	result := func(code int, tail ...string) {
		for _, l := range tail {
			fmt.Fprintln(con, l)
		}
		event(map[string]any{"event": "result", "exit_code": code, "uptime_ms": 900, "tail": tail})
		fmt.Fprintf(con, "rapido-verdict: exit=%d\n", code)
		fmt.Fprintln(con, "[    0.950000] reboot: Restarting system")
	}
	if scenario == "flaky" {
		// Passes on odd starts, fails on even ones (counted in
		// FAKE_QEMU_LOG): a test for --repeat.
		scenario = "fail"
		if b, err := os.ReadFile(os.Getenv("FAKE_QEMU_LOG")); err == nil && strings.Count(string(b), "\n")%2 == 1 {
			scenario = "pass"
		}
	}
	start := time.Now()
	if d, err := time.ParseDuration(os.Getenv("FAKE_BUSY")); err == nil {
		time.Sleep(d)
	}
	if log := os.Getenv("FAKE_BUSY_LOG"); log != "" {
		// Written when QEMU ends (a hanging scenario never does).
		defer func() {
			if f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "qemu %d %d\n", start.UnixNano(), time.Now().UnixNano())
				f.Close()
			}
		}()
	}
	switch scenario {
	case "pass":
		boot()
		result(0, "Linux rapido1 6.1.0-fake")
	case "fail":
		boot()
		result(1, "rapido-regressed Linux version 6.1.0-fake", "grep: no match")
	case "not-found": // the test program is not in the image
		boot()
		result(127, "rapido-init: cannot run /no/such/program: fork/exec /no/such/program: no such file or directory")
	case "not-executable":
		boot()
		result(126, "rapido-init: cannot run /test.sh: fork/exec /test.sh: permission denied")
	case "oops":
		boot()
		fmt.Fprintln(con, "[    0.800000] BUG: kernel NULL pointer dereference, address: 0000000000000008")
		fmt.Fprintln(con, "[    0.800100] Oops: 0002 [#1] PREEMPT SMP NOPTI")
		fmt.Fprintln(con, "[    0.800200] RIP: 0010:version_proc_show+0x12/0x40")
		fmt.Fprintln(con, "[    0.800300] Call Trace:")
		fmt.Fprintln(con, "[    0.800400]  seq_read_iter+0x11c/0x4b0")
		fmt.Fprintln(con, "[    0.800500] ---[ end trace 0000000000000000 ]---")
		result(0)
	case "kasan":
		boot()
		fmt.Fprintln(con, "[    0.800000] BUG: KASAN: slab-out-of-bounds in cmdline_proc_show+0x2a/0x40")
		fmt.Fprintln(con, "[    0.800100] Read of size 1 at addr ffff888003a1c0ff by task cat/42")
		result(0)
	case "warn":
		boot()
		fmt.Fprintln(con, "[    0.800000] WARNING: CPU: 0 PID: 1 at fs/proc/version.c:14 version_proc_show+0x1/0x40")
		fmt.Fprintln(con, "[    0.800100] ---[ end trace 0000000000000000 ]---")
		result(0)
	case "panic":
		fmt.Fprintln(con, "[    0.000000] Linux version 6.1.0-fake (fake@rapido) #1")
		fmt.Fprintln(con, "[    0.400000] Kernel panic - not syncing: rapido fixture: boot panic")
		fmt.Fprintln(con, "[    0.400100] CPU: 0 PID: 1 Comm: swapper Not tainted 6.1.0-fake #1")
		fmt.Fprintln(con, "[    0.400200] Call Trace:")
		fmt.Fprintln(con, "[    0.400300]  proc_version_init+0x10/0x20")
		fmt.Fprintln(con, "[    0.400400] ---[ end Kernel panic - not syncing: rapido fixture: boot panic ]---")
	case "hang":
		fmt.Fprintln(con, "[    0.000000] Linux version 6.1.0-fake (fake@rapido) #1")
		hang()
	case "silent":
		hang()
	case "qemu-crash":
		fail("-device virtio-serial-pci: fake device failure")
	default:
		fail("unknown scenario %q", scenario)
	}
}

// hang blocks until killed, recording its pid so tests can check that
// nothing outlived the run.
func hang() {
	if p := os.Getenv("FAKE_QEMU_PIDFILE"); p != "" {
		os.WriteFile(p, []byte(fmt.Sprint(os.Getpid())), 0o644)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// shares checks each -fsdev's directory as QEMU does, logs it to
// FAKE_QEMU_LOG ("share PATH ro|rw") and, standing in for a guest that
// writes, puts rapido-fake-guest into each writable one.
func shares(fsdevs []string) {
	for _, v := range fsdevs {
		// QemuOpts: ",," is a comma inside a value.
		opts := strings.Split(strings.ReplaceAll(v, ",,", "\x00"), ",")
		path, mode := "", "rw"
		for _, o := range opts {
			o = strings.ReplaceAll(o, "\x00", ",")
			if p, ok := strings.CutPrefix(o, "path="); ok {
				path = p
			}
			if o == "readonly=on" {
				mode = "ro"
			}
		}
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
			fail("-device virtio-9p-pci: cannot initialize fsdev: failed to open '%s': No such file or directory", path)
		}
		if log := os.Getenv("FAKE_QEMU_LOG"); log != "" {
			if f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "share %s %s\n", path, mode)
				f.Close()
			}
		}
		if mode == "rw" {
			os.WriteFile(path+"/rapido-fake-guest", []byte("written by the guest\n"), 0o644)
		}
	}
}

func checkInitrd(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := cpio.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return fmt.Errorf("no /init")
		}
		if err != nil {
			return fmt.Errorf("not a newc archive: %w", err)
		}
		if h.Name == "init" {
			if h.Mode&0o111 == 0 {
				return fmt.Errorf("/init is not executable")
			}
			return nil
		}
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "qemu-system-x86_64: "+format+"\n", a...)
	os.Exit(1)
}
