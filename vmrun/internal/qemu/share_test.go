package qemu

import (
	"slices"
	"strings"
	"testing"
)

// TestShareArgs: each share is an -fsdev (read-only unless rw, commas in
// the path doubled for QemuOpts) and a virtio-9p-pci device with its tag;
// without shares the command line is as before.
func TestShareArgs(t *testing.T) {
	c := Config{Kernel: "/k", Initrd: "/i", ConsoleLog: "/c.log", Accel: "tcg"}
	before := BuildArgs(c)
	if slices.Contains(before, "-fsdev") {
		t.Fatalf("no shares, but -fsdev in %q", before)
	}
	c.Shares = []Share{{Tag: "rapido0", Path: "/src/linux,v2/tools"}, {Tag: "rapido1", Path: "/tmp/out", RW: true}}
	got := BuildArgs(c)
	want := []string{
		"-fsdev", "local,id=rapidofs0,path=/src/linux,,v2/tools,security_model=none,readonly=on",
		"-device", "virtio-9p-pci,fsdev=rapidofs0,mount_tag=rapido0",
		"-fsdev", "local,id=rapidofs1,path=/tmp/out,security_model=none",
		"-device", "virtio-9p-pci,fsdev=rapidofs1,mount_tag=rapido1",
	}
	if !slices.Equal(got[:len(before)], before) || !slices.Equal(got[len(before):], want) {
		t.Errorf("BuildArgs with shares:\n%s\nwant the args of no shares followed by\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The cut's own arguments still come last.
	c.ExtraArgs = []string{"-device", "virtio-rng-pci"}
	if got := BuildArgs(c); !slices.Equal(got[len(got)-2:], c.ExtraArgs) {
		t.Errorf("extra args not last: %q", got)
	}
}

// TestShareArgsVirtiofs: a virtiofs share is a socket chardev and a
// vhost-user-fs-pci device, with the guest's RAM a shared memfd once for
// all shares, and not again when a vhost-user disk asked for it already.
func TestShareArgsVirtiofs(t *testing.T) {
	c := Config{Kernel: "/k", Initrd: "/i", ConsoleLog: "/c.log", Accel: "tcg", Memory: "1G"}
	before := BuildArgs(c)
	c.Shares = []Share{
		{Tag: "rapido0", Path: "/src", RW: true, Socket: "/tmp/v,1/rapido0.sock"},
		{Tag: "rapido1", Path: "/ro"},
		{Tag: "rapido2", Path: "/out", RW: true, Socket: "/tmp/v,1/rapido2.sock"},
	}
	want := []string{
		"-object", "memory-backend-memfd,id=rapido-mem,size=1G,share=on", "-machine", "memory-backend=rapido-mem",
		"-chardev", "socket,id=rapidofs0,path=/tmp/v,,1/rapido0.sock",
		"-device", "vhost-user-fs-pci,chardev=rapidofs0,tag=rapido0",
		"-fsdev", "local,id=rapidofs1,path=/ro,security_model=none,readonly=on",
		"-device", "virtio-9p-pci,fsdev=rapidofs1,mount_tag=rapido1",
		"-chardev", "socket,id=rapidofs2,path=/tmp/v,,1/rapido2.sock",
		"-device", "vhost-user-fs-pci,chardev=rapidofs2,tag=rapido2",
	}
	got := BuildArgs(c)
	if !slices.Equal(got[:len(before)], before) || !slices.Equal(got[len(before):], want) {
		t.Errorf("BuildArgs with virtiofs shares:\n%s\nwant the args of no shares followed by\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// With a vhost-user storage disk: one memory backend, the disk's.
	c.ExtraArgs = StorageQEMUArgs([]StorageDisk{{Name: "vdisk", Socket: "/s.sock"}}, "1G")
	got = BuildArgs(c)
	n := 0
	for _, a := range got {
		if strings.HasPrefix(a, "memory-backend-memfd,") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("a virtiofs share and a vhost-user disk: %d memory backends, want 1\n%s", n, strings.Join(got, "\n"))
	}
}

func TestVirtiofsdArgs(t *testing.T) {
	c := Virtiofsd{Path: "/usr/lib/qemu/virtiofsd"}
	if got, want := VirtiofsdArgs(c, "/r/s.sock", "/src", true, true), []string{"--socket-path=/r/s.sock", "-o", "source=/src", "-o", "cache=auto"}; !slices.Equal(got, want) {
		t.Errorf("C virtiofsd: %q, want %q", got, want)
	}
	// -o is a comma-separated list: a comma in the directory is escaped
	// with a backslash (and a backslash too), as the C daemon's option
	// parser reads it.
	if got, want := VirtiofsdArgs(c, "/r/s.sock", `/src/a,b\c`, true, true)[2], `source=/src/a\,b\\c`; got != want {
		t.Errorf("C virtiofsd, a comma in the path: %q, want %q", got, want)
	}
	rs := Virtiofsd{Path: "/usr/libexec/virtiofsd", Rust: true, ReadOnly: true}
	if got, want := VirtiofsdArgs(rs, "/r/s.sock", "/src", false, false), []string{"--socket-path=/r/s.sock", "--shared-dir=/src", "--cache=auto", "--sandbox=none", "--readonly"}; !slices.Equal(got, want) {
		t.Errorf("Rust virtiofsd, ro, not root: %q, want %q", got, want)
	}
	// A Rust daemon without --readonly (an old one) serves a read-only
	// bind mount instead (ROBind): it must not be given the option.
	old := Virtiofsd{Path: "/usr/libexec/virtiofsd", Rust: true, ROBind: true}
	if got := VirtiofsdArgs(old, "/r/s.sock", "/ro", false, true); slices.Contains(got, "--readonly") {
		t.Errorf("a Rust daemon without --readonly is given it: %q", got)
	}
	if got := VirtiofsdArgs(rs, "/r/s.sock", "/src", true, true); slices.Contains(got, "--readonly") || slices.Contains(got, "--sandbox=none") {
		t.Errorf("Rust virtiofsd, rw, root: %q", got)
	}
}
