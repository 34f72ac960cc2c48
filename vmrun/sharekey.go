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
	"strconv"
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
	h := sha256.New()
	io.WriteString(h, contentVersion)
	var files, bytes int64
	buf := make([]byte, 64<<10)
	fh := sha256.New()
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
		r := rel(root, p)
		switch t := d.Type(); {
		case t.IsDir():
			record(h, "d", r)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				why = fmt.Sprintf("key=content: cannot read %s (%v)", quoted(r), unwrapPath(err))
				return errWhy
			}
			record(h, "l", r, target)
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				why = fmt.Sprintf("key=content: cannot read %s (%v)", quoted(r), unwrapPath(err))
				return errWhy
			}
			if bytes += fi.Size(); bytes > contentKeyMaxBytes {
				why = fmt.Sprintf("key=content: it holds more than %d MiB; key a checkout with key=git, or share less", contentKeyMaxBytes>>20)
				return errWhy
			}
			sum, n, err := fileSum(fh, buf, p)
			if err != nil {
				why = fmt.Sprintf("key=content: cannot read %s (%v)", quoted(r), unwrapPath(err))
				return errWhy
			}
			kind := "f"
			if fi.Mode()&0o100 != 0 {
				kind = "x"
			}
			record(h, kind, r, strconv.FormatInt(n, 10), sum)
		default:
			why = fmt.Sprintf("key=content: %s is a named pipe, device or socket, whose content git rapido cannot key", quoted(r))
			return errWhy
		}
		return nil
	})
	if err == errWhy {
		return "", why, nil
	}
	if err != nil {
		return "", "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), "", nil
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

// fileSum is the SHA-256 of the file at p and the number of bytes read.
func fileSum(h hash.Hash, buf []byte, p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h.Reset()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return "", 0, err
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
