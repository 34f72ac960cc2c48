package qemu

import (
	"slices"
	"strings"
	"testing"
)

func TestStorageDaemonArgs(t *testing.T) {
	vu := StorageDisk{Name: "vdisk", Image: "/logs/r,1/storage-vdisk.img", Socket: "/tmp/q/vdisk.sock", Export: "vhost-user-blk", Options: []string{"aio=threads"}}
	want := []string{
		"--blockdev", "driver=file,node-name=file0,filename=/logs/r,,1/storage-vdisk.img,aio=threads",
		"--blockdev", "driver=raw,node-name=disk0,file=file0",
		"--export", "type=vhost-user-blk,id=export0,node-name=disk0,addr.type=unix,addr.path=/tmp/q/vdisk.sock,writable=on,num-queues=1",
		"--chardev", "socket,id=monitor0,fd=3", "--monitor", "chardev=monitor0",
	}
	if got := StorageDaemonArgs(vu, 3); !slices.Equal(got, want) {
		t.Errorf("vhost-user-blk:\n got %q\nwant %q", got, want)
	}
	nbd := StorageDisk{Name: "ndisk", Image: "/i.img", Socket: "/tmp/q/ndisk.sock", Export: "nbd"}
	got := strings.Join(StorageDaemonArgs(nbd, 4), " ")
	for _, w := range []string{"--nbd-server addr.type=unix,addr.path=/tmp/q/ndisk.sock", "--export type=nbd,id=export0,node-name=disk0,name=ndisk,writable=on", "fd=4"} {
		if !strings.Contains(got, w) {
			t.Errorf("nbd: %q lacks %q", got, w)
		}
	}
	// The monitor is last: its greeting means every export is up.
	if a := StorageDaemonArgs(nbd, 3); a[len(a)-2] != "--monitor" {
		t.Errorf("the monitor is not the last option: %q", a)
	}
}

func TestStorageQEMUArgs(t *testing.T) {
	disks := []StorageDisk{
		{Name: "ndisk", Socket: "/tmp/q/ndisk.sock", Export: "nbd"},
		{Name: "vdisk", Socket: "/tmp/q,x/vdisk.sock", Export: "vhost-user-blk"},
		{Name: "wdisk", Socket: "/tmp/q/wdisk.sock", Export: "vhost-user-blk"},
	}
	want := []string{
		"-object", "memory-backend-memfd,id=rapido-mem,size=1G,share=on", "-machine", "memory-backend=rapido-mem",
		"-blockdev", "driver=nbd,node-name=storage-ndisk,server.type=unix,server.path=/tmp/q/ndisk.sock,export=ndisk",
		"-device", "virtio-blk-pci,drive=storage-ndisk,id=ndisk,serial=ndisk",
		"-chardev", "socket,id=storage-vdisk,path=/tmp/q,,x/vdisk.sock",
		"-device", "vhost-user-blk-pci,chardev=storage-vdisk,id=vdisk,num-queues=1",
		"-chardev", "socket,id=storage-wdisk,path=/tmp/q/wdisk.sock",
		"-device", "vhost-user-blk-pci,chardev=storage-wdisk,id=wdisk,num-queues=1",
	}
	if got := StorageQEMUArgs(disks, "1G"); !slices.Equal(got, want) {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	// NBD alone needs no shared memory; vhost-user with the default -m.
	if got := StorageQEMUArgs(disks[:1], ""); slices.Contains(got, "-object") {
		t.Errorf("nbd only: %q shares memory", got)
	}
	if got := StorageQEMUArgs(disks[1:2], ""); !slices.Contains(got, "memory-backend-memfd,id=rapido-mem,size=512M,share=on") {
		t.Errorf("default memory: %q", got)
	}
}
