package cut

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// record is one archive entry as read back with cavaliergopher/cpio.
type record struct {
	hdr  *cpio.Header
	data []byte
}

// archive is an image read back: entries by path and in archive order.
type archive struct {
	order  []string
	byPath map[string]record
}

func readArchive(t *testing.T, b []byte) *archive {
	t.Helper()
	a := &archive{byPath: map[string]record{}}
	r := cpio.NewReader(bytes.NewReader(b))
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read image back: %v", err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read %s: %v", hdr.Name, err)
		}
		p := "/" + hdr.Name
		if _, dup := a.byPath[p]; dup {
			t.Errorf("image has %s twice", p)
		}
		a.order = append(a.order, p)
		a.byPath[p] = record{hdr, data}
	}
	return a
}

func writeImage(t *testing.T, im *Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := im.Write(&buf); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func (a *archive) kind(p string) string {
	r, ok := a.byPath[p]
	if !ok {
		return "missing"
	}
	switch r.hdr.Mode &^ cpio.ModePerm {
	case cpio.TypeDir:
		return "dir"
	case cpio.TypeReg:
		return "file"
	case cpio.TypeSymlink:
		return "symlink"
	}
	return fmt.Sprintf("mode %o", r.hdr.Mode)
}

// resolve follows p through the archive's symlinks the way the kernel would
// in the guest, and returns the path of the regular file it ends at.
func (a *archive) resolve(p string) (string, error) {
	for hops := 0; hops < 40; hops++ {
		parts := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
		cur := "/"
		restart := false
		for i, part := range parts {
			next := path.Join(cur, part)
			r, ok := a.byPath[next]
			if !ok {
				return "", fmt.Errorf("%s: %s not in the image", p, next)
			}
			if r.hdr.Mode&^cpio.ModePerm == cpio.TypeSymlink {
				target := r.hdr.Linkname
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				p = path.Join(append([]string{target}, parts[i+1:]...)...)
				restart = true
				break
			}
			cur = next
		}
		if !restart {
			if a.kind(cur) != "file" {
				return "", fmt.Errorf("%s ends at %s, a %s", p, cur, a.kind(cur))
			}
			return cur, nil
		}
	}
	return "", errors.New(p + ": too many symlinks")
}

// checkFaithful checks every host-derived entry against the host: symlinks
// keep the host's target, files the host's bytes.
func (a *archive) checkFaithful(t *testing.T, prefixes ...string) {
	t.Helper()
	for _, p := range a.order {
		match := false
		for _, pre := range prefixes {
			match = match || strings.HasPrefix(p, pre)
		}
		if !match {
			continue
		}
		switch a.kind(p) {
		case "symlink":
			want, err := os.Readlink(p)
			if err != nil {
				t.Errorf("image symlink %s: host: %v", p, err)
			} else if got := a.byPath[p].hdr.Linkname; got != want {
				t.Errorf("image symlink %s -> %s; host has -> %s", p, got, want)
			}
		case "file":
			want, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("image file %s: host: %v", p, err)
			} else if !bytes.Equal(a.byPath[p].data, want) {
				t.Errorf("image file %s differs from the host's", p)
			}
		}
	}
}

// unpack replays the archive as the kernel's initramfs unpacker does: in
// order, creating each entry at its name, where looking up the parent
// follows the symlinks created so far (a dangling one fails). It returns
// the entries the guest would not get.
func (a *archive) unpack() []string {
	created := map[string]record{"/": {hdr: &cpio.Header{Mode: cpio.TypeDir}}}
	lookupDir := func(dir string) (string, bool) {
		for hops := 0; hops < 40; hops++ {
			parts := strings.Split(strings.TrimPrefix(dir, "/"), "/")
			cur := "/"
			restart := false
			for i, part := range parts {
				if part == "" {
					continue
				}
				next := path.Join(cur, part)
				r, ok := created[next]
				if !ok {
					return "", false
				}
				switch r.hdr.Mode &^ cpio.ModePerm {
				case cpio.TypeSymlink:
					target := r.hdr.Linkname
					if !path.IsAbs(target) {
						target = path.Join(cur, target)
					}
					dir = path.Join(append([]string{target}, parts[i+1:]...)...)
					restart = true
				case cpio.TypeDir:
					cur = next
					continue
				default:
					return "", false
				}
				break
			}
			if !restart {
				return cur, true
			}
		}
		return "", false
	}
	var failed []string
	for _, p := range a.order {
		parent, ok := lookupDir(path.Dir(p))
		if !ok {
			failed = append(failed, p)
			continue
		}
		created[path.Join(parent, path.Base(p))] = a.byPath[p]
	}
	return failed
}
