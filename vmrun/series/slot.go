package series

// The side effects of a series: one detached linked worktree per slot
// under the common git directory, each with its own build directory. The
// scheduling above does not depend on any of this.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Git runs git in the user's worktree.
type Git interface {
	Git(ctx context.Context, args ...string) (string, error)
}

// Slots are the job slots of a repository: <common git dir>/rapido/slots/<n>
// is slot n's worktree (detached: no branch, no reflog of its own) and
// <n>.build its build directory, kept across runs so each slot's builds
// stay incremental.
type Slots struct {
	Root string // <git-common-dir>/rapido/slots
	Git  Git
	lock *os.File
}

// Slot is one job slot.
type Slot struct {
	N        int
	Dir      string // the worktree
	BuildDir string
}

// noHooks keeps the user's post-checkout hook out of the slots: they are
// git rapido's scratch space, not a checkout the user made.
var noHooks = []string{"-c", "core.hooksPath=/dev/null"}

// builtMark, in a slot's build directory, names the commit whose build
// completed there last. A worktree made again for that commit (after
// Ctrl-C removed it) gets old mtimes, so kbuild sees its objects as up to
// date instead of rebuilding everything.
const builtMark = "rapido-built"

// Lock takes the slots for this run: a second series in the same
// repository would check out other commits under the first one's builds.
func (s *Slots) Lock() error {
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.Root, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		f.Close()
		return fmt.Errorf("slots: another git rapido test is using %s", s.Root)
	}
	s.lock = f
	return nil
}

// Unlock releases Lock.
func (s *Slots) Unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Open makes (or reuses) slots 1..n, each checked out at at[n-1] when it
// is made.
func (s *Slots) Open(ctx context.Context, at []string) ([]*Slot, error) {
	var out []*Slot
	for i, commit := range at {
		sl := &Slot{N: i + 1, Dir: filepath.Join(s.Root, strconv.Itoa(i+1))}
		sl.BuildDir = sl.Dir + ".build"
		if err := s.open(ctx, sl, commit); err != nil {
			return nil, err
		}
		out = append(out, sl)
	}
	return out, nil
}

func (s *Slots) open(ctx context.Context, sl *Slot, commit string) error {
	if _, err := os.Stat(filepath.Join(sl.Dir, ".git")); err == nil {
		return nil // reused: its files keep their mtimes, its build stays warm
	}
	// A directory left without its worktree (removed by hand): start over.
	os.RemoveAll(sl.Dir)
	s.Git.Git(ctx, "worktree", "prune")
	if err := os.MkdirAll(sl.BuildDir, 0o755); err != nil {
		return fmt.Errorf("slot %d: %w", sl.N, err)
	}
	built := readMark(sl.BuildDir)
	if built != "" {
		commit = built
	}
	args := append(append([]string(nil), noHooks...), "worktree", "add", "-q", "--detach", sl.Dir, commit)
	if _, err := s.Git.Git(ctx, args...); err != nil {
		os.RemoveAll(sl.Dir)
		s.Git.Git(context.WithoutCancel(ctx), "worktree", "prune")
		return fmt.Errorf("slot %d: make its worktree: %w%s", sl.N, err, diskHint(sl.Dir))
	}
	if built != "" {
		// The build directory holds the complete build of exactly this
		// commit: sources older than its objects are what kbuild would
		// have seen had the worktree never gone.
		if err := ageSources(sl.Dir); err != nil {
			return fmt.Errorf("slot %d: %w", sl.N, err)
		}
		refreshIndex(ctx, s.Git, sl.Dir)
	}
	return nil
}

// ageSources sets the mtime of every file of a fresh worktree to long ago.
func ageSources(dir string) error {
	old := time.Unix(946684800, 0) // 2000-01-01
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // a linked worktree's .git is a file
		}
		if d.Type().IsRegular() {
			return os.Chtimes(p, old, old)
		}
		return nil
	})
}

// Checkout puts commit in the slot's worktree; git rewrites only the files
// that differ, so the next build is incremental. The build mark is dropped
// until a build of commit completes.
func (s *Slots) Checkout(ctx context.Context, sl *Slot, commit string) error {
	os.Remove(filepath.Join(sl.BuildDir, builtMark))
	args := append(append([]string(nil), noHooks...), "-C", sl.Dir, "checkout", "-q", "--force", "--detach", commit)
	if _, err := s.Git.Git(ctx, args...); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("slot %d: check out %.12s: %w%s", sl.N, commit, err, diskHint(sl.Dir))
	}
	return nil
}

// Built records that commit's build completed in the slot.
func (s *Slots) Built(sl *Slot, commit string) {
	os.WriteFile(filepath.Join(sl.BuildDir, builtMark), []byte(commit+"\n"), 0o644)
}

func readMark(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, builtMark))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// RemoveWorktrees removes the slots' worktrees and keeps their build
// directories (Ctrl-C: nothing of the user's repository is left checked
// out, the next run still builds incrementally).
func (s *Slots) RemoveWorktrees(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	var first error
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil || !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.Root, e.Name())
		if _, err := s.Git.Git(ctx, "worktree", "remove", "--force", dir); err != nil {
			if rerr := os.RemoveAll(dir); rerr != nil && first == nil {
				first = fmt.Errorf("slot %s: %w", e.Name(), err)
			}
		}
	}
	s.Git.Git(ctx, "worktree", "prune")
	return first
}

// Remove removes every slot: worktrees and build directories.
func (s *Slots) Remove(ctx context.Context) error {
	if err := s.RemoveWorktrees(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(s.Root); err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	return nil
}

// diskHint names a full disk, the usual reason a checkout fails midway.
func diskHint(dir string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil || syscall.Statfs(filepath.Dir(dir), &st) == nil {
		if st.Bavail*uint64(st.Bsize) < 64<<20 {
			return " (the disk is full)"
		}
	}
	return ""
}
