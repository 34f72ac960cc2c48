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
