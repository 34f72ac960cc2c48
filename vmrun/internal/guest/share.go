package guest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Share is a host directory QEMU serves over 9p (virtio) or a virtiofsd
// over virtiofs under Tag, which the guest mounts on Path before the test
// runs.
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

// VirtiofsParam starts the kernel command-line parameter naming the
// shares (by tag, comma-separated) the host serves over virtiofs; the others are
// 9p. It is on the command line, not in the image, because the host
// decides the transport per run (rapido.shareTransport) and the image,
// like the cache key, is the same either way.
const VirtiofsParam = "rapido.virtiofs="

// virtiofsTags reads VirtiofsParam from a kernel command line.
func virtiofsTags(cmdline string) map[string]bool {
	tags := map[string]bool{}
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, VirtiofsParam); ok {
			for _, t := range strings.Split(v, ",") {
				tags[t] = true
			}
		}
	}
	return tags
}

// mountShares mounts every share, parents first (the host sorted them).
// A failure means the test cannot run as asked: the error names the fix.
func mountShares(shares []Share) error {
	var vfs map[string]bool
	if len(shares) > 0 {
		vfs = virtiofsTags(kernelCmdline())
	}
	for _, s := range shares {
		if err := os.MkdirAll(s.Path, 0o755); err != nil {
			return fmt.Errorf("mount share %s on %s: %w", s.Tag, s.Path, err)
		}
		if vfs[s.Tag] {
			if err := mountVirtiofs(s); err != nil {
				return err
			}
			continue
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

// mountVirtiofs mounts a share a virtiofsd serves. A read-only share is
// mounted read-only here too, though the daemon is what refuses writes.
func mountVirtiofs(s Share) error {
	var flags uintptr
	if !s.RW {
		flags = syscall.MS_RDONLY
	}
	if err := syscall.Mount(s.Tag, s.Path, "virtiofs", flags, ""); err != nil {
		hint := ""
		switch {
		case errors.Is(err, syscall.ENODEV):
			hint = " (the kernel lacks virtiofs: it needs CONFIG_FUSE_FS=y and CONFIG_VIRTIO_FS=y, or set rapido.shareTransport=9p)"
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EINVAL):
			hint = " (no virtiofs device with that tag: does the kernel have CONFIG_VIRTIO_FS=y and CONFIG_VIRTIO_PCI=y?)"
		}
		return fmt.Errorf("mount share %s on %s over virtiofs: %w%s", s.Tag, s.Path, err, hint)
	}
	return nil
}
