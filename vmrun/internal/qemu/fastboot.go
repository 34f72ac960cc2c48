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
// way into the kernel than QEMU's defaults (SeaBIOS, the compressed
// bzImage that decompresses itself, a PC whose buses the kernel probes):
//
//   - Firmware: qboot, the minimal firmware QEMU ships for direct kernel
//     boot, instead of SeaBIOS;
//   - Kernel: the uncompressed vmlinux started at its PVH entry point
//     (CONFIG_PVH), which skips the real-mode setup and the decompressor;
//   - Machine: microvm, when the kernel can reach its devices there
//     (CONFIG_VIRTIO_MMIO with command-line devices).
//
// Each is found, not assumed: a QEMU without qboot.rom (older than 4.0,
// where PVH boot arrived too) or a kernel without the PVH note gets
// today's command line.
type FastBoot struct {
	Firmware string // qboot.rom, or ""
	Kernel   string // vmlinux with a PVH entry, or ""
	Machine  string // MachineMicroVM, or ""
}

// Usable says whether the fast path changes anything. qboot without PVH
// still loads the bzImage through QEMU's option ROM, and gains less; it is
// used alone too.
func (f FastBoot) Usable() bool { return f.Firmware != "" || f.Kernel != "" }

// Apply puts the fast path into c.
func (f FastBoot) Apply(c *Config) {
	if f.Firmware != "" {
		c.Firmware = f.Firmware
	}
	if f.Kernel != "" {
		c.Kernel = f.Kernel
	}
	if f.Machine != "" {
		c.Machine = f.Machine
	}
}

// QbootFor finds qboot.rom in the data directory of the QEMU binary
// (<prefix>/share/qemu for <prefix>/bin/qemu-system-x86_64), or "". A QEMU
// found elsewhere (a wrapper, a test's stand-in) gets none: its firmware
// directory is unknown.
func QbootFor(binary string) string {
	path, err := exec.LookPath(binary)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(path); err == nil {
		path = r
	}
	rom := filepath.Join(filepath.Dir(filepath.Dir(path)), "share", "qemu", "qboot.rom")
	if fi, err := os.Stat(rom); err == nil && fi.Mode().IsRegular() {
		return rom
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
