package qemu

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Boot paths, as a verdict records them.
const (
	BootClassic = "classic" // QEMU's default firmware and machine, the compressed image
	BootFast    = "fast"    // see FastBoot
)

// FastBoot is what this host's QEMU and the built kernel offer of a faster
// way into the kernel than QEMU's defaults (SeaBIOS loading the compressed
// bzImage, which sets itself up in real mode and decompresses itself, on a
// PC whose buses the kernel probes):
//
//   - Kernel: the uncompressed vmlinux started at its PVH entry point
//     (CONFIG_PVH), which skips the real-mode setup and the decompressor
//     (XZ for tinyconfig: slow under TCG);
//   - Machine: microvm, when the kernel can reach its devices there
//     (CONFIG_VIRTIO_MMIO with command-line devices): no PCI bus to probe,
//     and a qboot-based firmware that does next to nothing.
//
// Each is found, not assumed: QEMU's data directory has pvh.bin (the
// option ROM of PVH boot, QEMU 4.0) and bios-microvm.bin (microvm's
// firmware), the kernel's ELF file has the PVH note and its .config the
// virtio-mmio options. Whatever is missing gets today's command line.
//
// qboot.rom itself is not used on the PC machine: it leaves the MP table
// without PCI interrupt routing, so a kernel without ACPI (tinyconfig) gets
// no interrupt for the virtio-serial verdict channel.
type FastBoot struct {
	Kernel  string // vmlinux with a PVH entry, or ""
	Machine string // MachineMicroVM, or ""
}

// Usable says whether the fast path changes anything.
func (f FastBoot) Usable() bool { return f.Kernel != "" }

// Apply puts the fast path into c.
func (f FastBoot) Apply(c *Config) {
	if !f.Usable() {
		return
	}
	c.Kernel, c.Machine, c.Fast = f.Kernel, f.Machine, true
}

// QEMUData finds file in the data directory of the QEMU binary
// (<prefix>/share/qemu for <prefix>/bin/qemu-system-x86_64), or "". A QEMU
// found elsewhere (a wrapper, a test's stand-in) has none: its data
// directory is unknown.
func QEMUData(binary, file string) string {
	path, err := exec.LookPath(binary)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	f := filepath.Join(filepath.Dir(filepath.Dir(path)), "share", "qemu", file)
	if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
		return f
	}
	return ""
}

// xenElfNotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit entry
// point a PVH loader jumps to, in a note named "Xen".
const xenElfNotePhys32Entry = 18

// HasPVHEntry reports whether the ELF kernel at path has a PVH entry
// point (the note CONFIG_PVH adds). QEMU refuses, with an error, to boot
// an uncompressed kernel without one.
func HasPVHEntry(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 && f.Machine != elf.EM_386 {
		return false
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), int64(p.Filesz)))
		if err == nil && hasNote(b, f.ByteOrder, "Xen", xenElfNotePhys32Entry) {
			return true
		}
	}
	return false
}

// hasNote scans a note segment for a note of the given name and type.
func hasNote(b []byte, bo binary.ByteOrder, name string, typ uint32) bool {
	align := func(n uint32) uint32 { return (n + 3) &^ 3 }
	for len(b) >= 12 {
		namesz, descsz, t := bo.Uint32(b[0:]), bo.Uint32(b[4:]), bo.Uint32(b[8:])
		b = b[12:]
		if namesz > uint32(len(b)) || descsz > uint32(len(b)) || uint64(align(namesz))+uint64(align(descsz)) > uint64(len(b)) {
			return false
		}
		n := bytes.TrimRight(b[:namesz], "\x00")
		if t == typ && string(n) == name {
			return true
		}
		b = b[align(namesz)+align(descsz):]
	}
	return false
}

// KernelConfigHas reports whether the kernel .config at path sets every
// one of the given symbols to y.
func KernelConfigHas(path string, symbols ...string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	b = append([]byte("\n"), b...)
	for _, s := range symbols {
		if !bytes.Contains(b, []byte("\n"+s+"=y\n")) {
			return false
		}
	}
	return true
}
