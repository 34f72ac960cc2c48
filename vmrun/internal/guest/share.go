package guest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Share is a host directory QEMU serves over 9p (virtio) under Tag, which
// the guest mounts on Path before the test runs.
type Share struct {
	Tag  string `json:"tag"`
	Path string `json:"path"`
	RW   bool   `json:"rw,omitempty"`
}

// shareMsize is the 9p message size: large enough that reading a test's
// files costs few round trips, and within what virtio's ring carries.
const shareMsize = 262144

// shareOptions are the 9p mount options: a read-only share may cache
// freely (the host is not meant to change it during the test); a writable
// one does not, so the host sees every write as it happens.
func shareOptions(s Share) (uintptr, string) {
	opts := fmt.Sprintf("trans=virtio,version=9p2000.L,msize=%d", shareMsize)
	if !s.RW {
		return syscall.MS_RDONLY, opts + ",cache=loose"
	}
	return 0, opts + ",cache=none"
}

// mountShares mounts every share, parents first (the host sorted them).
// A failure means the test cannot run as asked: the error names the fix.
func mountShares(shares []Share) error {
	for _, s := range shares {
		if err := os.MkdirAll(s.Path, 0o755); err != nil {
			return fmt.Errorf("mount share %s on %s: %w", s.Tag, s.Path, err)
		}
		flags, opts := shareOptions(s)
		if err := syscall.Mount(s.Tag, s.Path, "9p", flags, opts); err != nil {
			hint := ""
			switch {
			case errors.Is(err, syscall.ENODEV):
				hint = " (the kernel lacks 9p: it needs CONFIG_NET_9P_VIRTIO=y and CONFIG_9P_FS=y)"
			case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EINVAL):
				hint = " (no 9p device with that tag: does the kernel have CONFIG_NET_9P_VIRTIO=y and CONFIG_VIRTIO_PCI=y?)"
			}
			return fmt.Errorf("mount share %s on %s: %w%s", s.Tag, s.Path, err, hint)
		}
	}
	return nil
}
