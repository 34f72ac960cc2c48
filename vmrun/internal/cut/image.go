// Package cut turns a cut manifest into a reproducible initramfs (newc cpio):
// the files a test needs, their shared-library and kernel-module closures, git
// rapido's own /init, and the guest spec telling /init what to run.
package cut

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// Kind is what an image entry is.
type Kind int

// The entry kinds.
const (
	Dir Kind = iota
	File
	Symlink
)

// Entry is one file of the image.
type Entry struct {
	Path   string // absolute guest path
	Kind   Kind
	Mode   fs.FileMode // permission bits
	Source string      // host file for File entries without Data
	Data   []byte      // inline content (generated files)
	Target string      // Symlink target
	Module bool        // part of the kernel-module closure
	// Host marks what is copied from the host system rather than chosen
	// by the cut's author: programs found by bin, their libraries and the
	// symlinks on the way, and /init. The cache key leaves their bytes
	// out (see Plan.WriteKey).
	Host bool
}

// Image is a set of entries keyed by guest path.
type Image struct {
	entries map[string]*Entry
}

func newImage() *Image { return &Image{entries: map[string]*Entry{}} }

func (im *Image) put(e *Entry) error {
	e.Path = path.Clean("/" + e.Path)
	if e.Path == "/" {
		return nil
	}
	if old, ok := im.entries[e.Path]; ok {
		if old.Kind == e.Kind && old.Source == e.Source && old.Target == e.Target && string(old.Data) == string(e.Data) {
			return nil
		}
		if old.Kind == Dir && e.Kind == Dir {
			return nil
		}
		return fmt.Errorf("add %s: already in the image from %s", e.Path, old.describe())
	}
	im.entries[e.Path] = e
	return nil
}

func (e *Entry) describe() string {
	switch {
	case e.Kind == Symlink:
		return "a symlink to " + e.Target
	case e.Kind == Dir:
		return "a directory"
	case e.Source != "":
		return e.Source
	}
	return "generated content"
}

// addHost adds host path p under the same guest path, reproducing every
// symlink met on the way (merged-/usr systems link /lib to usr/lib), so the
// guest sees the same names the loader and scripts expect.
func (im *Image) addHost(p string, hops int) error { return im.addHostIn("", p, hops) }

// addHostIn is addHost for a file of the tree under root (a sysroot): p
// and the symlinks on the way are read inside root, absolute targets
// included, and keep their paths below root in the guest.
func (im *Image) addHostIn(root, p string, hops int) error {
	if hops > 40 {
		return fmt.Errorf("add %s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := path.Join(cur, part)
		fi, err := os.Lstat(root + next)
		if err != nil {
			return fmt.Errorf("add %s: %w", root+p, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(root + next)
			if err != nil {
				return fmt.Errorf("add %s: %w", p, err)
			}
			if err := im.put(&Entry{Path: next, Kind: Symlink, Mode: 0o777, Target: target, Host: true}); err != nil {
				return err
			}
			abs := target
			if !path.IsAbs(abs) {
				abs = path.Join(cur, target)
			}
			return im.addHostIn(root, path.Join(append([]string{abs}, parts[i+1:]...)...), hops+1)
		}
		last := i == len(parts)-1
		switch {
		case !last || fi.IsDir():
			if err := im.put(&Entry{Path: next, Kind: Dir, Mode: fi.Mode().Perm(), Host: true}); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := im.put(&Entry{Path: next, Kind: File, Mode: fi.Mode().Perm(), Source: root + next, Host: true}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("add %s: not a regular file, directory or symlink", p)
		}
		cur = next
	}
	return nil
}

// sorted returns every entry plus missing parent directories, parents first
// and otherwise in byte order, which makes the archive reproducible.
//
// Entries below a symlink of the image are moved to where the symlink
// leads: the kernel unpacks in archive order, and "/lib/modules/..." after
// a "/lib -> usr/lib" symlink (merged /usr) would be created through a
// symlink whose target "/usr/lib" comes later in the archive, and be lost.
func (im *Image) sorted() []*Entry {
	keys := make([]string, 0, len(im.entries))
	for p := range im.entries {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	all := map[string]*Entry{}
	for _, k := range keys {
		e := im.entries[k]
		p := im.canonical(k)
		if p != k {
			if _, ok := im.entries[p]; ok {
				continue // the entry at the real path wins
			}
			c := *e
			c.Path = p
			e = &c
		}
		if _, ok := all[p]; ok {
			continue
		}
		all[p] = e
	}
	for p := range all {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = &Entry{Path: d, Kind: Dir, Mode: 0o755}
			}
		}
	}
	out := make([]*Entry, 0, len(all))
	for _, e := range all {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return lessPath(out[i].Path, out[j].Path) })
	return out
}

// canonical resolves the symlinks of the image among p's parent
// directories (not p itself), as a lookup in the guest would.
func (im *Image) canonical(p string) string {
	for hops := 0; hops < 40; hops++ {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := "/"
		moved := false
		for i, part := range parts[:len(parts)-1] {
			next := path.Join(cur, part)
			if e, ok := im.entries[next]; ok && e.Kind == Symlink {
				target := e.Target
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				p = path.Join(append([]string{"/", target}, parts[i+1:]...)...)
				moved = true
				break
			}
			cur = next
		}
		if !moved {
			return p
		}
	}
	return p // a symlink loop: leave the rest to the guest
}

// lessPath orders paths component by component, so "/a" and all of "/a/..."
// come before "/a.b": parents always precede their children.
func lessPath(a, b string) bool {
	return strings.ReplaceAll(a, "/", "\x00") < strings.ReplaceAll(b, "/", "\x00")
}

// content returns an entry's bytes.
func (e *Entry) content() ([]byte, error) {
	switch e.Kind {
	case Symlink:
		return []byte(e.Target), nil
	case Dir:
		return nil, nil
	}
	if e.Data != nil || e.Source == "" {
		return e.Data, nil
	}
	return os.ReadFile(e.Source)
}

// Digest hashes the image's entries (path, kind, mode, content). With
// withModules false the kernel-module closure is left out, which gives the
// digest of the cut's host inputs alone.
func (im *Image) Digest(withModules bool) (string, error) {
	h := sha256.New()
	for _, e := range im.sorted() {
		if e.Module && !withModules {
			fmt.Fprintf(h, "module %s\n", e.Path)
			continue
		}
		b, err := e.content()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", e.Path, err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%d %o %s %x\n", e.Kind, e.Mode, e.Path, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// clone copies the entry set (entries themselves are never changed after
// put), so that adding modules to one run's image leaves the plan alone.
func (im *Image) clone() *Image {
	c := newImage()
	for k, e := range im.entries {
		c.entries[k] = e
	}
	return c
}

// Write writes the image as a newc archive with zeroed times and owners.
func (im *Image) Write(w io.Writer) error {
	cw := cpio.NewWriter(w)
	for _, e := range im.sorted() {
		b, err := e.content()
		if err != nil {
			return fmt.Errorf("write image: %s: %w", e.Path, err)
		}
		hdr := &cpio.Header{Name: strings.TrimPrefix(e.Path, "/"), Mode: cpio.FileMode(uint32(e.Mode) & 0o7777)}
		switch e.Kind {
		case Dir:
			hdr.Mode |= cpio.TypeDir
		case Symlink:
			// cpio's writer ignores Linkname: newc stores the target as
			// the entry's data, so write it as such.
			hdr.Mode = cpio.TypeSymlink | 0o777
			hdr.Size = int64(len(b))
		case File:
			hdr.Mode |= cpio.TypeReg
			hdr.Size = int64(len(b))
		}
		if err := cw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write image: %s: %w", e.Path, err)
		}
		if len(b) > 0 {
			if _, err := cw.Write(b); err != nil {
				return fmt.Errorf("write image: %s: %w", e.Path, err)
			}
		}
	}
	return cw.Close()
}

// WriteCached writes the image to dir/<digest>.cpio unless it is there
// already, and returns the path and digest. The rename makes concurrent
// writers safe: each writes a temporary file and the last rename wins with
// identical bytes.
//
// The digest itself is remembered under the files' identity (see
// cachedDigest), so a run that cuts the files of an earlier one neither
// reads nor writes them.
func (im *Image) WriteCached(dir string) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("write image: %w", err)
	}
	sum, _, err := im.cachedDigest(dir)
	if err != nil {
		return "", "", err
	}
	final := filepath.Join(dir, sum+".cpio")
	if _, err := os.Stat(final); err == nil {
		return final, sum, nil
	}
	f, err := os.CreateTemp(dir, ".image-*")
	if err != nil {
		return "", "", fmt.Errorf("write image: %w", err)
	}
	defer os.Remove(f.Name())
	if err := im.Write(f); err != nil {
		f.Close()
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("write image: %w", err)
	}
	// Cached images are shared by every repository of the user: readable,
	// like any file the user creates, not 0600 as CreateTemp makes them.
	os.Chmod(f.Name(), 0o644)
	if err := os.Rename(f.Name(), final); err != nil {
		return "", "", fmt.Errorf("write image: %w", err)
	}
	return final, sum, nil
}

// Paths lists the guest paths in archive order (for tests and --list).
func (im *Image) Paths() []string {
	var ps []string
	for _, e := range im.sorted() {
		ps = append(ps, e.Path)
	}
	return ps
}

// Lookup returns the entry at guest path p.
func (im *Image) Lookup(p string) (*Entry, bool) {
	e, ok := im.entries[path.Clean(p)]
	return e, ok
}

var errNotFound = errors.New("not found")
