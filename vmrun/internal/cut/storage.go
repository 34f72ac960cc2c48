package cut

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// StorageDisk is a disk the host serves to the VM through
// qemu-storage-daemon (the storage-daemon directive): a raw image of Size
// bytes in the run's log directory, exported over vhost-user-blk or NBD.
type StorageDisk struct {
	Name   string // the export's name; the image is storage-NAME.img
	Size   int64  // bytes, a whole number of 512-byte sectors
	Export string // ExportVhostUserBlk or ExportNBD
	// Options are extra KEY=VALUE options of the image's file blockdev
	// (aio=io_uring, cache.direct=on...), passed to the daemon as written.
	Options []string
}

// The exports a storage-daemon line may ask for.
const (
	ExportVhostUserBlk = "vhost-user-blk"
	ExportNBD          = "nbd"
)

var (
	storageName   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
	storageSize   = regexp.MustCompile(`^([1-9][0-9]*)([KMGT]?)$`)
	storageOption = regexp.MustCompile(`^[a-z][a-z0-9.-]*=[^,=\s]+$`)
)

// maxStorageSize bounds an image (they are sparse, but a typo such as
// 64T should not create one).
const maxStorageSize = 1 << 40

// storageDirective reads "storage-daemon NAME SIZE [vhost-user-blk|nbd]
// [KEY=VALUE...]".
func (r *resolver) storageDirective(args []string) error {
	const usage = "storage-daemon: want NAME SIZE [vhost-user-blk|nbd] [KEY=VALUE...]"
	if len(args) < 2 {
		return fmt.Errorf("%s", usage)
	}
	d := StorageDisk{Name: args[0], Export: ExportVhostUserBlk}
	if !storageName.MatchString(d.Name) {
		return fmt.Errorf("storage-daemon: name %q: want a lower-case letter, then up to 15 letters, digits or -", d.Name)
	}
	for _, o := range r.plan.Host.Storage {
		if o.Name == d.Name {
			return fmt.Errorf("storage-daemon: %s: a disk of that name is already served", d.Name)
		}
	}
	size, err := parseStorageSize(args[1])
	if err != nil {
		return err
	}
	d.Size = size
	rest := args[2:]
	if len(rest) > 0 && !strings.Contains(rest[0], "=") {
		switch rest[0] {
		case ExportVhostUserBlk, ExportNBD:
			d.Export = rest[0]
		default:
			return fmt.Errorf("storage-daemon: export %q: want vhost-user-blk or nbd", rest[0])
		}
		rest = rest[1:]
	}
	for _, o := range rest {
		if !storageOption.MatchString(o) {
			return fmt.Errorf("storage-daemon: option %q: want KEY=VALUE without commas (an option of the image's file blockdev, e.g. aio=io_uring)", o)
		}
		switch k, _, _ := strings.Cut(o, "="); k {
		case "driver", "node-name", "filename":
			return fmt.Errorf("storage-daemon: option %q: git rapido sets %s itself", o, k)
		}
	}
	d.Options = rest
	r.plan.Host.Storage = append(r.plan.Host.Storage, d)
	return nil
}

// parseStorageSize reads 64M, 1G, 4096 (bytes)...
func parseStorageSize(s string) (int64, error) {
	m := storageSize.FindStringSubmatch(s)
	bad := fmt.Errorf("storage-daemon: size %q: want a whole number of 512-byte sectors up to 1T, such as 64M or 1G", s)
	if m == nil || len(m[1]) > 13 {
		return 0, bad
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
	if n > maxStorageSize>>shift {
		return 0, bad
	}
	n <<= shift
	if n%512 != 0 {
		return 0, bad
	}
	return n, nil
}
