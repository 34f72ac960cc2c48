package qemu

import (
	"fmt"
	"strings"
)

// A disk served by qemu-storage-daemon: the daemon's command line and
// QEMU's side of it. Pure functions, golden-tested like BuildArgs.

// StorageDisk is one qemu-storage-daemon export and the guest disk on it.
type StorageDisk struct {
	Name    string   // export and device id
	Image   string   // the raw image file the daemon serves
	Socket  string   // the export's unix socket
	Export  string   // "vhost-user-blk" or "nbd"
	Options []string // extra KEY=VALUE options of the image's file blockdev
}

// StorageMemoryID is the memory backend shared with vhost-user daemons.
const StorageMemoryID = "rapido-mem"

// opt doubles commas, QemuOpts' escape, so that a path is one value.
func opt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// StorageDaemonArgs returns the qemu-storage-daemon arguments (without the
// binary) that serve d. The daemon processes its options in order and
// greets on its monitor only when all of them are done, so monitorFD, a
// connected socket passed to it, is last: its greeting means the export
// is listening, and its end of file means the daemon gave up.
func StorageDaemonArgs(d StorageDisk, monitorFD int) []string {
	file := "driver=file,node-name=file0,filename=" + opt(d.Image)
	for _, o := range d.Options {
		file += "," + o
	}
	args := []string{"--blockdev", file, "--blockdev", "driver=raw,node-name=disk0,file=file0"}
	switch d.Export {
	case "nbd":
		args = append(args,
			"--nbd-server", "addr.type=unix,addr.path="+opt(d.Socket),
			"--export", "type=nbd,id=export0,node-name=disk0,name="+d.Name+",writable=on")
	default:
		args = append(args,
			"--export", "type=vhost-user-blk,id=export0,node-name=disk0,addr.type=unix,addr.path="+opt(d.Socket)+",writable=on,num-queues=1")
	}
	return append(args,
		"--chardev", fmt.Sprintf("socket,id=monitor0,fd=%d", monitorFD),
		"--monitor", "chardev=monitor0")
}

// StorageQEMUArgs returns QEMU's arguments for the disks, in order. A
// vhost-user daemon reads and writes the guest's buffers itself, so when
// there is one the guest's RAM (memory, as given to -m) is a shared memfd.
func StorageQEMUArgs(disks []StorageDisk, memory string) []string {
	var args []string
	for _, d := range disks {
		if d.Export != "nbd" {
			args = append(args, sharedMemoryArgs(memory)...)
			break
		}
	}
	for _, d := range disks {
		id := "storage-" + d.Name
		switch d.Export {
		case "nbd":
			args = append(args,
				"-blockdev", "driver=nbd,node-name="+id+",server.type=unix,server.path="+opt(d.Socket)+",export="+d.Name,
				"-device", "virtio-blk-pci,drive="+id+",id="+d.Name+",serial="+d.Name)
		default:
			args = append(args,
				"-chardev", "socket,id="+id+",path="+opt(d.Socket),
				"-device", "vhost-user-blk-pci,chardev="+id+",id="+d.Name+",num-queues=1")
		}
	}
	return args
}
