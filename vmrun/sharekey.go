package vmrun

import (
	"context"
	"strings"

	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/git-rapido/git-rapido/vmrun/internal/cut"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// The keys a user names for a share (key=git, key=content): how the
// verdict cache knows what the test read from a directory outside the
// repository (docs/cache.md).

// namedShareKey reads the key the user named for s: its repository's tree
// at HEAD (key=git) or the digest of its files (key=content).
func namedShareKey(ctx context.Context, g Git, top string, s Share) (shareKey, error) {
	switch s.Key {
	case cut.KeyGit:
		return gitShareKey(ctx, g, top, s.Host)
	case cut.KeyContent:
		d, why, err := contentDigest(s.Host)
		if err != nil || why != "" {
			return shareKey{why: why}, err
		}
		return shareKey{tree: "content:" + d}, nil
	}
	return shareKey{}, fmt.Errorf("key %q: want key=%s or key=%s", s.Key, cut.KeyContent, cut.KeyGit)
}

// gitShareKey is key=git: dir in a git worktree (the kernel's or one of its
// own, an fstests checkout) is keyed on the tree HEAD holds for it, when
// the worktree holds that tree: no uncommitted or untracked change there.
// Unlike the default key, nothing is written from the worktree, so the
// key is one a teammate's clean checkout of the same commit also has.
func gitShareKey(ctx context.Context, g Git, top, dir string) (shareKey, error) {
	repo := ""
	rel, ok := insideRepo(top, dir)
	if !ok {
		other, err := g.Git(ctx, "-C", dir, "rev-parse", "--show-toplevel")
		if err == nil {
			rel, ok = insideRepo(other, dir)
		}
		if !ok {
			return shareKey{why: "key=git: it is in no git worktree (use key=content)"}, nil
		}
		repo = other
	}
	git := func(args ...string) (string, error) {
		if repo != "" {
			args = append([]string{"-C", repo}, args...)
		}
		return g.Git(ctx, args...)
	}
	// rel is taken literally (a directory named "*" is no glob); the
	// worktree's top is ":(top)", as a literal "." matches nothing.
	spec := ":(top,literal)" + rel
	if rel == "." {
		spec = ":(top)"
	}
	st, err := git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignore-submodules=none", "--", spec)
	if err != nil {
		return shareKey{}, err
	}
	if st != "" {
		// "XY path": the status code, whose blanks a trimmed output
		// may have lost, then the path from the top.
		first, _, _ := strings.Cut(strings.TrimLeft(st, " "), "\x00")
		_, first, _ = strings.Cut(first, " ")
		first = strings.TrimLeft(first, " ")
		return shareKey{why: fmt.Sprintf("key=git: it has uncommitted or untracked changes (%s); commit them, or key=content", quoted(first))}, nil
	}
	rev := "HEAD:" + rel
	if rel == "." {
		rev = "HEAD:"
	}
	tree, err := git("rev-parse", "--verify", "--quiet", rev)
	if err == nil {
		var kind string
		if kind, err = git("cat-file", "-t", tree); err == nil && kind != "tree" {
			err = fmt.Errorf("a %s", kind)
		}
	}
	if err != nil {
		return shareKey{why: "key=git: HEAD holds no files there (commit them, or key=content)"}, nil
	}
	ls, err := git("ls-tree", "-r", tree)
	if err != nil {
		return shareKey{}, err
	}
	if name := gitlink(ls); name != "" {
		return shareKey{why: fmt.Sprintf("key=git: it holds another git repository (%s), whose files its tree does not describe", quoted(name))}, nil
	}
	return shareKey{tree: "git:" + tree}, nil
}

// gitlink is the first repository nested in an ls-tree listing ("" for
// none): its files are in the tree as its HEAD commit only.
func gitlink(ls string) string {
	for _, l := range strings.Split(ls, "\n") {
		if strings.HasPrefix(l, "160000 ") {
			_, name, _ := strings.Cut(l, "\t")
			return name
		}
	}
	return ""
}

// Limits of key=content: past them keying would cost more than a test is
// worth to cache; a checkout that large is better keyed by git (key=git).
// (Variables so that a test can reach them without writing a gigabyte.)
var (
	contentKeyMaxFiles int64 = 100_000
	contentKeyMaxBytes int64 = 1 << 30
)

// contentVersion names the digest's layout; a new layout gives new keys.
const contentVersion = "git-rapido share content v1\x00"

// contentDigest is the digest of every entry under dir: its path relative
// to dir, its type, for a regular file its exec bit, size and SHA-256, and
// for a symlink its target (the guest follows it in its own file system).
// Entries are taken in lexical order and nothing else is read (no mtime,
// owner or inode), so the same files give the same digest on any machine.
// A special file (device, socket, fifo) has no content to key, and a tree
// past the limits is not read through: why says so, the digest is "".
func contentDigest(dir string) (digest, why string, err error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", err
	}
	// First the listing (names, types, sizes), bounded; then the files'
	// contents, read by a few workers: opening and reading small files is
	// most of the time, and the kernel serves them in parallel.
	var entries []contentEntry
	var files, bytes int64
	errWhy := errors.New("not keyed")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			why = fmt.Sprintf("key=content: cannot read %s (%v)", quoted(rel(root, p)), unwrapPath(err))
			return errWhy
		}
		if p == root {
			return nil
		}
		if files++; files > contentKeyMaxFiles {
			why = fmt.Sprintf("key=content: it holds more than %d files; key a checkout with key=git, or share less", contentKeyMaxFiles)
			return errWhy
		}
		e := contentEntry{path: p, rel: rel(root, p)}
		switch t := d.Type(); {
		case t.IsDir():
			e.kind = "d"
		case t&fs.ModeSymlink != 0:
			e.kind = "l"
			if e.sum, err = os.Readlink(p); err != nil {
				why = fmt.Sprintf("key=content: cannot read %s (%v)", quoted(e.rel), unwrapPath(err))
				return errWhy
			}
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				why = fmt.Sprintf("key=content: cannot read %s (%v)", quoted(e.rel), unwrapPath(err))
				return errWhy
			}
			if bytes += fi.Size(); bytes > contentKeyMaxBytes {
				why = fmt.Sprintf("key=content: it holds more than %d MiB; key a checkout with key=git, or share less", contentKeyMaxBytes>>20)
				return errWhy
			}
			e.kind = "f"
			if fi.Mode()&0o100 != 0 {
				e.kind = "x"
			}
		default:
			why = fmt.Sprintf("key=content: %s is a named pipe, device or socket, whose content git rapido cannot key", quoted(e.rel))
			return errWhy
		}
		entries = append(entries, e)
		return nil
	})
	if err == errWhy {
		return "", why, nil
	}
	if err != nil {
		return "", "", err
	}
	if bad := sumFiles(entries); bad != nil {
		return "", fmt.Sprintf("key=content: cannot read %s (%v)", quoted(bad.rel), bad.err), nil
	}
	h := sha256.New()
	io.WriteString(h, contentVersion)
	for _, e := range entries {
		switch e.kind {
		case "d":
			record(h, e.kind, e.rel)
		case "l":
			record(h, e.kind, e.rel, e.sum)
		default:
			record(h, e.kind, e.rel, strconv.FormatInt(e.size, 10), e.sum)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), "", nil
}

// contentEntry is one entry of a content-keyed share: kind d (directory),
// l (symlink; sum is its target), f or x (a file, x when executable; sum
// and size are its content's).
type contentEntry struct {
	path, rel, kind, sum string
	size                 int64
	err                  error
}

// sumFiles reads the regular files of entries, a few at a time, and
// returns the first (in order) that could not be read.
func sumFiles(entries []contentEntry) *contentEntry {
	work := make(chan *contentEntry)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 4) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, buf := sha256.New(), make([]byte, 64<<10)
			for e := range work {
				e.sum, e.size, e.err = fileSum(h, buf, e.path)
			}
		}()
	}
	for i := range entries {
		if k := entries[i].kind; k == "f" || k == "x" {
			work <- &entries[i]
		}
	}
	close(work)
	wg.Wait()
	for i := range entries {
		if entries[i].err != nil {
			return &entries[i]
		}
	}
	return nil
}

// record writes one entry: its type, then each field ended by a NUL (no
// path or link target holds one), so no two listings write the same bytes.
func record(h hash.Hash, kind string, fields ...string) {
	io.WriteString(h, kind)
	for _, f := range fields {
		io.WriteString(h, "\x00")
		io.WriteString(h, f)
	}
	io.WriteString(h, "\x00\n")
}

// fileSum is the SHA-256 of the file at p and the number of bytes read,
// through plain system calls: a regular file needs none of the poller's
// bookkeeping os.File does for every open. O_NOFOLLOW: a file swapped for
// a symlink since the listing is not followed out of the share.
func fileSum(h hash.Hash, buf []byte, p string) (string, int64, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", 0, err
	}
	defer syscall.Close(fd)
	h.Reset()
	var n int64
	for {
		m, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", 0, err
		}
		if m == 0 {
			break
		}
		h.Write(buf[:m])
		n += int64(m)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// quoted is a path as a message shows it: quoted when it holds anything a
// terminal would not print as is.
func quoted(p string) string {
	if q := strconv.Quote(p); q[1:len(q)-1] != p {
		return q
	}
	return p
}

// unwrapPath drops the path an fs error repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
