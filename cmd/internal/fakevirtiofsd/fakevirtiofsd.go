// Package fakevirtiofsd is a test double for virtiofsd, registered as
// "fake-virtiofsd" in the hermetic CLI tier. It answers --help like QEMU's
// C daemon (like the Rust one, with --readonly, when FAKE_VIRTIOFSD=rust),
// checks its shared directory, listens on its socket, says so as the real
// daemons do, serves one connection (the fake QEMU's) and exits when it
// hangs up. On connection, standing in for a guest that writes, it puts
// rapido-fake-guest into its directory unless told --readonly, and logs
// "virtiofsd DIR rw", "virtiofsd DIR ro" (--readonly) or "virtiofsd DIR ro
// (EROFS)" (the directory refused the write) to FAKE_QEMU_LOG. FAKE_VIRTIOFSD=fail makes it refuse to start. Only
// _test.go files may import it.
package fakevirtiofsd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Main is the fake's entry point.
func Main() {
	mode := os.Getenv("FAKE_VIRTIOFSD")
	var socket, dir string
	ro := false
	for i := 1; i < len(os.Args); i++ {
		a := os.Args[i]
		switch {
		case a == "--help":
			fmt.Println("usage: virtiofsd [options]\n    --socket-path=PATH         path for the vhost-user socket")
			if mode == "rust" {
				fmt.Println("    --shared-dir <shared-dir>\n    --readonly")
			} else {
				fmt.Println("    -o source=PATH             shared directory tree")
			}
			os.Exit(0)
		case strings.HasPrefix(a, "--socket-path="):
			socket = strings.TrimPrefix(a, "--socket-path=")
		case strings.HasPrefix(a, "--shared-dir="):
			dir = strings.TrimPrefix(a, "--shared-dir=")
		case a == "--readonly":
			ro = true
		case a == "-o" && i+1 < len(os.Args):
			i++
			if v, ok := strings.CutPrefix(os.Args[i], "source="); ok {
				dir = v
			}
		}
	}
	if mode == "fail" {
		fmt.Fprintln(os.Stderr, "[fake] virtiofsd: cannot set up the sandbox: Operation not permitted")
		os.Exit(1)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "fuse: source %q is not a directory\n", dir)
		os.Exit(1)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "virtiofsd: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "virtiofsd: Waiting for vhost-user socket connection...")
	c, err := l.Accept()
	if err != nil {
		os.Exit(1)
	}
	// A daemon told --readonly refuses the write itself; otherwise the
	// write is tried, and a read-only mount (git rapido's virtiofsd-ro in
	// front of the C daemon) refuses it with EROFS.
	m := "rw"
	if ro {
		m = "ro"
	} else if err := os.WriteFile(dir+"/rapido-fake-guest", []byte("written by the guest over virtiofs\n"), 0o644); errors.Is(err, syscall.EROFS) {
		m = "ro (EROFS)"
	}
	if log := os.Getenv("FAKE_QEMU_LOG"); log != "" {
		if f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "virtiofsd %s %s\n", dir, m)
			f.Close()
		}
	}
	// Served: the fake QEMU waits for this before its guest runs, so a
	// run cannot end (and stop the daemon) before the line above is logged.
	c.Write([]byte{'k'})
	io.Copy(io.Discard, c)
	os.Remove(socket)
}
