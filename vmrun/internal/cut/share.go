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
	// Key is how the verdict cache keys the share's files when the user
	// names it (key=git, key=content); "" keeps the default (its git tree
	// when it is in a git worktree, no key otherwise).
	Key string
}

// Share keys the user can name (key=...): the checkout's own repository at
// HEAD, or a digest of the directory's files.
const (
	KeyGit     = "git"
	KeyContent = "content"
)

// parseKey reads the value of a key= option: one of the methods, or an
// error naming them. It is the one place a share's key is checked.
func parseKey(v string) (string, error) {
	switch v {
	case KeyGit, KeyContent:
		return v, nil
	}
	return "", fmt.Errorf("key %q: want key=%s or key=%s", v, KeyContent, KeyGit)
}

// keyOption is the share's key=... option, as the directive and the flag
// spell it ("" without one).
func (s Share) keyOption() string {
	if s.Key == "" {
		return ""
	}
	return "key=" + s.Key
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

// ParseShare reads --share HOSTDIR[:GUESTDIR[:ro|rw]][,key=git|content].
// A relative HOSTDIR is relative to base (the current directory); GUESTDIR
// defaults to the host path, so scripts naming absolute paths find their
// files. The key option is the last ",key=" of v: a path holding ",key="
// cannot be shared from the command line (nor one with a colon).
func ParseShare(v, base string) (Share, error) {
	spec, key := v, ""
	hasKey := false
	if i := strings.LastIndex(v, ",key="); i >= 0 {
		spec, key, hasKey = v[:i], v[i+len(",key="):], true
	}
	if strings.Contains(spec, ",key=") {
		return Share{}, fmt.Errorf("share %q: the key is named twice (a path holding \",key=\" cannot be shared from the command line; use the share directive of a cut)", v)
	}
	parts := strings.Split(spec, ":")
	if len(parts) > 3 {
		return Share{}, fmt.Errorf("share %q: want HOSTDIR[:GUESTDIR[:ro|rw]][,key=git|content] (a path with a colon cannot be shared from the command line; use the share directive of a cut)", v)
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
	if hasKey {
		k, err := parseKey(key)
		if err != nil {
			return Share{}, fmt.Errorf("share %q: %w", v, err)
		}
		s.Key = k
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
	if s.Key != "" {
		if _, err := parseKey(s.Key); err != nil {
			return err
		}
		// A key would promise a cache the share cannot have: what the
		// test writes there is no input git rapido can key.
		if s.RW {
			return fmt.Errorf("%s on a writable share: a rw share is never cached; drop the key or share it ro", s.keyOption())
		}
	}
	return checkHostDir(s.Host)
}

// shareDirective reads "share HOSTDIR GUESTDIR [ro|rw] [key=git|content]";
// HOSTDIR is relative to the manifest.
func (r *resolver) shareDirective(src string, args []string) error {
	if len(args) < 2 || len(args) > 4 {
		return fmt.Errorf("share: want HOSTDIR GUESTDIR [ro|rw] [key=git|content]")
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
	opts := args[2:]
	if len(opts) > 0 && !strings.HasPrefix(opts[0], "key=") {
		if s.RW, err = parseMode(opts[0]); err != nil {
			return fmt.Errorf("share: %w", err)
		}
		opts = opts[1:]
	}
	switch {
	case len(opts) > 1:
		return fmt.Errorf("share: want HOSTDIR GUESTDIR [ro|rw] [key=git|content]")
	case len(opts) == 1:
		v, ok := strings.CutPrefix(opts[0], "key=")
		if !ok {
			return fmt.Errorf("share: %q: want HOSTDIR GUESTDIR [ro|rw] [key=git|content]", opts[0])
		}
		if s.Key, err = parseKey(v); err != nil {
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
