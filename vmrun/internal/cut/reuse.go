package cut

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Reusing an image without reading it again.
//
// An image's name in the cache is the digest of its content, which means
// reading every file it holds (the 10 MB /init first of all) on every run.
// Most runs cut the same files as the run before, so the digest is
// remembered under the files' identity: each entry's guest path, kind,
// mode and inline content, and for a host file its path, device, inode,
// size, modification and change times. A file written since, replaced
// (a new inode) or touched in any way changes the identity and the image
// is hashed, and written if new, again; a changed manifest or /init
// changes the entries themselves.
//
// As git's index does, it distrusts a file changed within racyWindow of
// the moment the identity is taken: a second write in the same timestamp
// tick would leave every stat field as it was. Such an identity is not
// remembered, so the next run hashes again.

// racyWindow is how recent a change makes a file's stat untrustworthy. A
// variable only for the tests.
var racyWindow = 2 * time.Second

// identity returns the key of the image's files as they are now, and
// whether it may be remembered (no file changed within racyWindow).
func (im *Image) identity(now time.Time) (string, bool, error) {
	h := sha256.New()
	stable := true
	for _, e := range im.sorted() {
		fmt.Fprintf(h, "%d %o %q %q", e.Kind, e.Mode, e.Path, e.Target)
		switch {
		case e.Kind != File:
		case e.Data != nil || e.Source == "":
			fmt.Fprintf(h, " data %x", sha256.Sum256(e.Data))
		default:
			fi, err := os.Stat(e.Source)
			if err != nil {
				return "", false, fmt.Errorf("hash %s: %w", e.Path, err)
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				return "", false, nil
			}
			mtime, ctime := time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix())
			if now.Sub(mtime) < racyWindow || now.Sub(ctime) < racyWindow {
				stable = false
			}
			fmt.Fprintf(h, " file %q %d %d %d %d %d", e.Source, st.Dev, st.Ino, st.Size, mtime.UnixNano(), ctime.UnixNano())
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), stable, nil
}

// cachedDigest is Digest(true), read from dir's memo of identities when
// the image's files are the ones last hashed (hit), and remembered there
// otherwise.
func (im *Image) cachedDigest(dir string) (string, bool, error) {
	id, stable, err := im.identity(time.Now())
	if err != nil {
		return "", false, err
	}
	memo := filepath.Join(dir, id+".id")
	if stable {
		if b, err := os.ReadFile(memo); err == nil {
			sum := strings.TrimSpace(string(b))
			if _, err := os.Stat(filepath.Join(dir, sum+".cpio")); err == nil && len(sum) == sha256.Size*2 {
				return sum, true, nil
			}
		}
	}
	sum, err := im.Digest(true)
	if err != nil {
		return "", false, err
	}
	if stable {
		// Best effort: a memo that cannot be written only costs the next
		// run a hash, and one naming an image that was not written after
		// all is not a hit (the image is looked for above).
		writeFileAtomic(memo, []byte(sum+"\n"))
	}
	return sum, false, nil
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) {
	f, err := os.CreateTemp(filepath.Dir(path), ".memo-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if f.Close() != nil || werr != nil {
		os.Remove(f.Name())
		return
	}
	os.Chmod(f.Name(), 0o644)
	if os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}
