package series

// Seeding a new slot's build directory from an existing build, so that no
// slot pays a cold kernel build when the user's tree has been built once.
//
// kbuild decides what to rebuild from two things: the command line each
// object was built with (its .cmd file, which names the source directory
// by its absolute path when building with O=), and the mtimes of sources
// against objects. A copied build directory therefore gets the source
// path rewritten in its text files, keeps its mtimes, and every file of
// the slot's worktree whose content is the same as in the user's worktree
// gets the user's file's mtime: kbuild then makes exactly the decisions it
// would make in the user's tree, and rebuilds what differs (a file that
// differs keeps the checkout's mtime, newer than any object).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Seed copies the build in from (built from the worktree top) into the
// slot's build directory when the slot has no build yet. It reports
// whether it did; a build directory that is busy (a build is running in
// it) or not configured is not copied.
func (s *Slots) Seed(ctx context.Context, sl *Slot, top, from string) (bool, error) {
	if _, err := os.Stat(filepath.Join(sl.BuildDir, ".config")); err == nil {
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(from, ".config")); err != nil {
		return false, nil
	}
	lock, err := os.OpenFile(filepath.Join(from, ".rapido-lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return false, nil
	}
	defer lock.Close()
	if syscall.Flock(int(lock.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil { // shared: slots seed side by side, a build excludes them
		return false, nil
	}
	oldTop, err := filepath.EvalSymlinks(top)
	if err != nil {
		return false, err
	}
	newTop, err := filepath.EvalSymlinks(sl.Dir)
	if err != nil {
		return false, err
	}
	oldBuild, err := filepath.EvalSymlinks(from)
	if err != nil {
		return false, err
	}
	newBuild, err := filepath.Abs(sl.BuildDir)
	if err != nil {
		return false, err
	}
	// The build directory first: the user's often lies inside the source
	// tree (.git/rapido/build), and tools/objtool's .cmd files name it by
	// its absolute path; a stale objtool would rebuild every object.
	rw := strings.NewReplacer(oldBuild, newBuild, oldTop, newTop)
	if err := copyBuild(ctx, from, sl.BuildDir, rw, oldTop, newTop); err != nil {
		os.RemoveAll(sl.BuildDir)
		os.MkdirAll(sl.BuildDir, 0o755)
		return false, fmt.Errorf("slot %d: seed its build from %s: %w%s", sl.N, from, err, diskHint(sl.BuildDir))
	}
	if err := s.syncMtimes(ctx, top, sl.Dir); err != nil {
		// Without the mtimes the copy is only slower (kbuild rebuilds
		// what looks changed), never wrong.
		return true, nil
	}
	return true, nil
}

// copyBuild copies a build directory, keeping modes and mtimes, with the
// paths rewritten by rw in text files naming oldTop (which every path rw
// rewrites starts with or equals), and symbolic links into oldTop pointing
// into newTop.
func copyBuild(ctx context.Context, from, to string, rw *strings.Replacer, oldTop, newTop string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch rel {
		case ".rapido-lock", builtMark, ".rapido-inputs":
			// .rapido-inputs (kbuild's cache of the last scan of the
			// records) names the directory it was made in: the slot's
			// first record scans its own.
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if t, ok := strings.CutPrefix(target, oldTop); ok && (t == "" || t[0] == '/') {
				target = newTop + t
			}
			os.Remove(dst)
			return os.Symlink(target, dst)
		case !d.Type().IsRegular():
			return nil
		}
		if err := copyRewrite(p, dst, info, rw, oldTop); err != nil {
			return err
		}
		return os.Chtimes(dst, info.ModTime(), info.ModTime())
	})
}

// copyRewrite copies one file; a small text file naming old is rewritten
// by rw (a .cmd file, the generated Makefile).
func copyRewrite(src, dst string, info fs.FileInfo, rw *strings.Replacer, old string) error {
	if info.Size() < 4<<20 {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(old)) && bytes.IndexByte(b, 0) < 0 {
			b = []byte(rw.Replace(string(b)))
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncMtimes gives every file of the slot whose content and mode are the
// same as in the user's worktree (same index entry, not modified there)
// the user's file's mtime.
func (s *Slots) syncMtimes(ctx context.Context, top, dir string) error {
	theirs, err := s.Git.Git(ctx, "-C", top, "ls-files", "-s", "-z")
	if err != nil {
		return err
	}
	mine, err := s.Git.Git(ctx, "-C", dir, "ls-files", "-s", "-z")
	if err != nil {
		return err
	}
	modified, err := s.Git.Git(ctx, "-C", top, "diff", "--name-only", "-z")
	if err != nil {
		return err
	}
	skip := map[string]bool{}
	for _, p := range strings.Split(modified, "\x00") {
		skip[p] = true
	}
	entries := func(out string) map[string]string {
		m := map[string]string{}
		for _, rec := range strings.Split(out, "\x00") {
			if meta, path, ok := strings.Cut(rec, "\t"); ok {
				m[path] = meta
			}
		}
		return m
	}
	user := entries(theirs)
	for path, meta := range entries(mine) {
		if user[path] != meta || skip[path] {
			continue
		}
		fi, err := os.Lstat(filepath.Join(top, path))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		os.Chtimes(filepath.Join(dir, path), fi.ModTime(), fi.ModTime())
	}
	return refreshIndex(ctx, s.Git, dir)
}

// refreshIndex records the new mtimes in the slot's index, so that git
// does not hash every file again at the next checkout or status.
func refreshIndex(ctx context.Context, g Git, dir string) error {
	_, err := g.Git(ctx, "-C", dir, "update-index", "-q", "--refresh")
	return err
}
