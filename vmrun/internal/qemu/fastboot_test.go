package qemu

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/proctest"
)

func TestHasPVHEntry(t *testing.T) {
	dir := t.TempDir()
	pvh, other, text := filepath.Join(dir, "vmlinux"), filepath.Join(dir, "other"), filepath.Join(dir, "text")
	if err := proctest.WriteKernelELF(pvh, "Xen", 18); err != nil {
		t.Fatal(err)
	}
	// A Xen note of another type (a kernel with Xen PV support but not
	// PVH) and a GNU note of the same number are not the PVH entry.
	proctest.WriteKernelELF(other, "Xen", 17)
	os.WriteFile(text, []byte("not an ELF file"), 0o644)
	for path, want := range map[string]bool{pvh: true, other: false, text: false, filepath.Join(dir, "missing"): false} {
		if got := HasPVHEntry(path); got != want {
			t.Errorf("HasPVHEntry(%s) = %t; want %t", filepath.Base(path), got, want)
		}
	}
	gnu := filepath.Join(dir, "gnu")
	proctest.WriteKernelELF(gnu, "GNU", 18)
	if HasPVHEntry(gnu) {
		t.Error("a GNU note of type 18 taken for the PVH entry")
	}
}

// FuzzHasNote: no note segment, however malformed, panics the scan.
func FuzzHasNote(f *testing.F) {
	f.Add([]byte{4, 0, 0, 0, 4, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0, 1, 2, 3, 4})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 18, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		hasNote(b, binary.LittleEndian, "Xen", 18)
	})
}

func TestQEMUData(t *testing.T) {
	prefix := t.TempDir()
	bin := filepath.Join(prefix, "bin", "qemu-system-x86_64")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	if got := QEMUData(bin, "pvh.bin"); got != "" {
		t.Errorf("QEMUData without pvh.bin = %q", got)
	}
	rom := filepath.Join(prefix, "share", "qemu", "pvh.bin")
	os.MkdirAll(filepath.Dir(rom), 0o755)
	os.WriteFile(rom, []byte("rom"), 0o644)
	if got := QEMUData(bin, "pvh.bin"); got != rom {
		t.Errorf("QEMUData = %q; want %q", got, rom)
	}
	// Found through $PATH by name, as rapido.qemu's default is.
	t.Setenv("PATH", filepath.Dir(bin))
	if got := QEMUData("qemu-system-x86_64", "pvh.bin"); got != rom {
		t.Errorf("QEMUData by name = %q; want %q", got, rom)
	}
	if got := QEMUData("no-such-qemu", "pvh.bin"); got != "" {
		t.Errorf("QEMUData(missing binary) = %q", got)
	}
}

func TestFastBootApply(t *testing.T) {
	c := Config{Accel: "tcg", Kernel: "/b/arch/x86/boot/bzImage", Initrd: "/i", ConsoleLog: "/c", VerdictPath: "/v"}
	classic := strings.Join(BuildArgs(c), " ")
	FastBoot{}.Apply(&c)
	if got := strings.Join(BuildArgs(c), " "); got != classic {
		t.Errorf("the zero FastBoot changed the command line: %s", got)
	}
	fb := FastBoot{Kernel: "/b/vmlinux"}
	if !fb.Usable() || (FastBoot{Machine: MachineMicroVM}).Usable() {
		t.Error("Usable")
	}
	fb.Apply(&c)
	args := BuildArgs(c)
	if i := slices.Index(args, "-kernel"); i < 0 || args[i+1] != "/b/vmlinux" {
		t.Errorf("not the vmlinux in %q", args)
	}
	if i := slices.Index(args, "-append"); i < 0 || !strings.HasSuffix(args[i+1], " reboot=t noapictimer") {
		t.Errorf("the fast path's kernel arguments are missing under TCG: %q", args)
	}
	// Under KVM the local APIC timer works: it is left alone.
	c.Accel = "kvm"
	if args := BuildArgs(c); strings.Contains(strings.Join(args, " "), "noapictimer") {
		t.Errorf("noapictimer under KVM: %q", args)
	}
}

func TestKernelConfigHas(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), ".config")
	os.WriteFile(cfg, []byte("CONFIG_PVH=y\n# CONFIG_VIRTIO_MMIO is not set\nCONFIG_VIRTIO=y\n"), 0o644)
	if !KernelConfigHas(cfg, "CONFIG_PVH", "CONFIG_VIRTIO") || KernelConfigHas(cfg, "CONFIG_PVH", "CONFIG_VIRTIO_MMIO") {
		t.Error("KernelConfigHas")
	}
}
