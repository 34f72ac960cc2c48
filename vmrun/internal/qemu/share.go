package qemu

import (
	"fmt"
	"slices"
	"strings"
)

// Share is a host directory served to the guest, which mounts it by Tag:
// over 9p (virtio-9p-pci, QEMU serves the files itself) or, when Socket is
// set, over virtiofs (vhost-user-fs-pci, a virtiofsd on the host serves
// them through that socket).
type Share struct {
	Tag    string
	Path   string // host directory
	RW     bool
	Socket string // virtiofs: the virtiofsd's vhost-user socket; "" = 9p
}

// Virtiofs says whether the share goes over virtiofs.
func (s Share) Virtiofs() bool { return s.Socket != "" }

// shareArgs returns each share's QEMU arguments. 9p: an -fsdev/-device
// pair; security_model=none makes files the guest creates belong to the
// user running QEMU, as files the user writes on the host do; readonly=on
// makes QEMU itself refuse writes to a read-only share, whatever the guest
// mounts. virtiofs: a socket chardev and a vhost-user-fs-pci device; the
// daemon reads and writes the guest's buffers itself, so the guest's RAM
// is a shared memfd — the one backend a vhost-user storage disk already
// asked for, when extra holds it (StorageQEMUArgs).
func shareArgs(shares []Share, memory string, extra []string) []string {
	var args []string
	for i, s := range shares {
		id := fmt.Sprintf("rapidofs%d", i)
		if s.Virtiofs() {
			if !slices.Contains(args, "-object") && !slices.Contains(extra, "memory-backend="+StorageMemoryID) {
				args = append(args, sharedMemoryArgs(memory)...)
			}
			args = append(args, "-chardev", "socket,id="+id+",path="+opt(s.Socket),
				"-device", "vhost-user-fs-pci,chardev="+id+",tag="+s.Tag)
			continue
		}
		// -fsdev is a QemuOpts list: a comma in the path is doubled.
		fsdev := "local,id=" + id + ",path=" + strings.ReplaceAll(s.Path, ",", ",,") + ",security_model=none"
		if !s.RW {
			fsdev += ",readonly=on"
		}
		args = append(args, "-fsdev", fsdev, "-device", "virtio-9p-pci,fsdev="+id+",mount_tag="+s.Tag)
	}
	return args
}

// sharedMemoryArgs makes the guest's RAM (memory, as given to -m) a
// shared memfd, which vhost-user daemons map.
func sharedMemoryArgs(memory string) []string {
	if memory == "" {
		memory = "512M"
	}
	return []string{"-object", "memory-backend-memfd,id=" + StorageMemoryID + ",size=" + memory + ",share=on",
		"-machine", "memory-backend=" + StorageMemoryID}
}

// Virtiofsd is an installed virtiofsd and what it can do.
type Virtiofsd struct {
	Path string
	// Rust is the virtiofsd package's daemon (--shared-dir); otherwise
	// the C one of QEMU 7 and older (-o source=).
	Rust bool
	// ReadOnly: the daemon itself refuses writes (--readonly), so a
	// read-only share stays read-only whatever the guest's root mounts.
	ReadOnly bool
	// ROBind: a daemon without ReadOnly serves a read-only share from a
	// read-only bind mount made for it alone, in a mount namespace of its
	// own (vmrun's virtiofsd-ro wrapper; root only). VirtiofsdArgs is then
	// given that mount as the directory.
	ROBind bool
}

// VirtiofsdReady is what a virtiofsd prints once its socket listens (both
// the C and the Rust daemon).
const VirtiofsdReady = "Waiting for vhost-user socket connection"

// VirtiofsdArgs returns the daemon's arguments (without the binary) that
// serve dir on socket. The daemon serves one connection and exits when
// QEMU goes. root: the namespace sandbox needs privileges; the Rust daemon
// runs without one otherwise (the C daemon needs root: see Usable).
func VirtiofsdArgs(d Virtiofsd, socket, dir string, rw, root bool) []string {
	if !d.Rust {
		// -o takes a comma-separated list, whose parser (libfuse's)
		// reads a backslash as an escape.
		src := strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(dir)
		return []string{"--socket-path=" + socket, "-o", "source=" + src, "-o", "cache=auto"}
	}
	args := []string{"--socket-path=" + socket, "--shared-dir=" + dir, "--cache=auto"}
	if !root {
		args = append(args, "--sandbox=none")
	}
	if !rw && d.ReadOnly {
		args = append(args, "--readonly")
	}
	return args
}
