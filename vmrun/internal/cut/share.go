package cut

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// Share is a host directory the guest mounts over 9p (virtio): the test
// reads the host's files in place instead of copies cut into the image.
type Share struct {
	Host  string // absolute, clean host directory
	Guest string // absolute, clean mount point in the guest
	RW    bool   // the guest may write (read-only by default)
}

// Mode is "rw" or "ro", as the directive and the flag spell it.
func (s Share) Mode() string {
	if s.RW {
		return "rw"
	}
	return "ro"
}

// reservedGuest are guest paths git rapido's /init mounts or owns: a share
// there would hide the kernel's file systems or the test's instructions.
var reservedGuest = []string{"/proc", "/sys", "/dev", "/rapido", "/init", "/run"}

// checkGuestDir refuses a mount point that is not a plain absolute path.
func checkGuestDir(g string) error {
	switch {
	case g == "":
		return fmt.Errorf("GUESTDIR is empty")
	case !strings.HasPrefix(g, "/"):
		return fmt.Errorf("GUESTDIR %q is not absolute (e.g. /mnt/src)", g)
	case path.Clean(g) != g:
		return fmt.Errorf("GUESTDIR %q is not a clean path (no .., //, . or trailing /; want %s)", g, path.Clean(g))
	case g == "/":
		return fmt.Errorf("GUESTDIR / would hide the image; mount the share below it (e.g. /mnt/src)")
	case strings.ContainsAny(g, "\x00\n"):
		return fmt.Errorf("GUESTDIR %q holds a control character", g)
	}
	for _, r := range reservedGuest {
		if g == r || strings.HasPrefix(g, r+"/") {
			return fmt.Errorf("GUESTDIR %s is git rapido's own (%s); choose another mount point", g, r)
		}
	}
	return nil
}

// checkHostDir makes sure QEMU will be able to serve dir: it exists, is a
// directory and can be listed. The answer names the fix.
func checkHostDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s: no such directory (create it or fix the path)", dir)
		}
		return fmt.Errorf("cannot share: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory (a share is a directory; cut a single file with the file directive)", dir)
	}
	f, err := os.Open(dir)
	if err == nil {
		if _, err = f.Readdirnames(1); errors.Is(err, io.EOF) {
			err = nil // empty, and readable
		}
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("%s: cannot be read (%v); fix its permissions (chmod u+rx)", dir, err)
	}
	return nil
}

// ParseShare reads --share HOSTDIR[:GUESTDIR[:ro|rw]]. A relative HOSTDIR
// is relative to base (the current directory); GUESTDIR defaults to the
// host path, so scripts naming absolute paths find their files.
func ParseShare(v, base string) (Share, error) {
	parts := strings.Split(v, ":")
	if len(parts) > 3 {
		return Share{}, fmt.Errorf("share %q: want HOSTDIR[:GUESTDIR[:ro|rw]] (a path with a colon cannot be shared from the command line; use the share directive of a cut)", v)
	}
	host := parts[0]
	if host == "" {
		return Share{}, fmt.Errorf("share %q: HOSTDIR is empty", v)
	}
	if !filepath.IsAbs(host) {
		host = filepath.Join(base, host)
	}
	s := Share{Host: filepath.Clean(host), Guest: filepath.Clean(host)}
	if len(parts) > 1 {
		s.Guest = parts[1]
	}
	if len(parts) > 2 {
		rw, err := parseMode(parts[2])
		if err != nil {
			return Share{}, fmt.Errorf("share %q: %w", v, err)
		}
		s.RW = rw
	}
	if err := s.check(); err != nil {
		return Share{}, fmt.Errorf("share %q: %w", v, err)
	}
	return s, nil
}

func parseMode(m string) (bool, error) {
	switch m {
	case "ro":
		return false, nil
	case "rw":
		return true, nil
	}
	return false, fmt.Errorf("mode %q: want ro or rw", m)
}

func (s Share) check() error {
	if err := checkGuestDir(s.Guest); err != nil {
		return err
	}
	return checkHostDir(s.Host)
}

// shareDirective reads "share HOSTDIR GUESTDIR [ro|rw]"; HOSTDIR is
// relative to the manifest.
func (r *resolver) shareDirective(src string, args []string) error {
	if len(args) != 2 && len(args) != 3 {
		return fmt.Errorf("share: want HOSTDIR GUESTDIR [ro|rw]")
	}
	host := relative(src, args[0])
	if strings.HasPrefix(host, "builtin:") {
		return fmt.Errorf("share: %s: a built-in cut cannot share a relative host path", args[0])
	}
	abs, err := filepath.Abs(host)
	if err != nil {
		return fmt.Errorf("share: %w", err)
	}
	s := Share{Host: abs, Guest: args[1]}
	if len(args) == 3 {
		if s.RW, err = parseMode(args[2]); err != nil {
			return fmt.Errorf("share: %w", err)
		}
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("share: %w", err)
	}
	r.plan.Host.Shares = append(r.plan.Host.Shares, s)
	return nil
}

// finishShares adds the option's shares after the manifest's, refuses two
// shares on one mount point, orders them so that a parent is mounted
// before what is mounted inside it. The kernel's 9p and virtiofs are in
// the built-in fragment (kbuild), so a share changes no build.
func finishShares(h *Host, o Options) error {
	for _, s := range o.Shares {
		if err := s.check(); err != nil {
			return fmt.Errorf("share: %w", err)
		}
	}
	all := append(append([]Share(nil), h.Shares...), o.Shares...)
	if len(all) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s.Guest] {
			return fmt.Errorf("share: two shares are mounted on %s", s.Guest)
		}
		seen[s.Guest] = true
	}
	if o.Workdir != "" && !under(o.Workdir, all) {
		return fmt.Errorf("share: the test's directory %s is in no share", o.Workdir)
	}
	sort.SliceStable(all, func(i, j int) bool {
		return strings.Count(all[i].Guest, "/") < strings.Count(all[j].Guest, "/")
	})
	h.Shares = all
	return nil
}

func under(dir string, shares []Share) bool {
	for _, s := range shares {
		if dir == s.Guest || strings.HasPrefix(dir, s.Guest+"/") {
			return true
		}
	}
	return false
}

// ShareTag is the 9p mount tag of the i-th share (QEMU's and the guest's
// name for it).
func ShareTag(i int) string { return fmt.Sprintf("rapido%d", i) }

// guestShares is the guest's view of the shares: tag, mount point, mode.
func guestShares(shares []Share) []guest.Share {
	var out []guest.Share
	for i, s := range shares {
		out = append(out, guest.Share{Tag: ShareTag(i), Path: s.Guest, RW: s.RW})
	}
	return out
}
