package qemu

import (
	"fmt"
	"strings"
)

// Share is a host directory served to the guest over 9p (virtio-9p-pci),
// which the guest mounts by Tag.
type Share struct {
	Tag  string
	Path string // host directory
	RW   bool
}

// shareArgs returns a -fsdev/-device pair per share. security_model=none
// makes files the guest creates belong to the user running QEMU, as files
// the user writes on the host do; readonly=on makes QEMU itself refuse
// writes to a read-only share, whatever the guest mounts.
func shareArgs(shares []Share) []string {
	var args []string
	for i, s := range shares {
		id := fmt.Sprintf("rapidofs%d", i)
		// -fsdev is a QemuOpts list: a comma in the path is doubled.
		fsdev := "local,id=" + id + ",path=" + strings.ReplaceAll(s.Path, ",", ",,") + ",security_model=none"
		if !s.RW {
			fsdev += ",readonly=on"
		}
		args = append(args, "-fsdev", fsdev, "-device", "virtio-9p-pci,fsdev="+id+",mount_tag="+s.Tag)
	}
	return args
}
