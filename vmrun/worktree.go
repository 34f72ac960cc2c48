package vmrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrDirty means the index or the worktree has uncommitted changes.
var ErrDirty = errors.New("the index or the worktree has uncommitted changes")

// GitReader runs a git command and returns its output.
type GitReader interface {
	Git(ctx context.Context, args ...string) (string, error)
}

// Changes lists the uncommitted changes that make a worktree differ from
// HEAD, one "git status --porcelain" line each. This is the one clean-tree
// rule: untracked files do not count (builds go out of tree and kbuild
// compiles only what the tracked Makefiles name), nor do changes inside
// submodules.
//
// --no-optional-locks: the status is read next to builds, checkouts and
// other readers (and may be cancelled mid-way); refreshing the index would
// take index.lock and make a concurrent checkout of the same worktree fail,
// or leave a stale lock behind a killed reader.
func Changes(ctx context.Context, g GitReader) ([]string, error) {
	out, err := g.Git(ctx, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--ignore-submodules=dirty")
	if err != nil {
		return nil, fmt.Errorf("check worktree: %w", err)
	}
	if strings.TrimSpace(out) == "" {
		return nil, nil
	}
	return strings.Split(strings.TrimSpace(out), "\n"), nil
}

// CheckClean refuses a worktree with uncommitted changes, naming a few.
func CheckClean(ctx context.Context, g GitReader) error {
	changes, err := Changes(ctx, g)
	if err != nil || len(changes) == 0 {
		return err
	}
	return dirtyError(changes)
}

func dirtyError(changes []string) error {
	if len(changes) > 3 {
		changes = append(changes[:3:3], "...")
	}
	for i, c := range changes {
		changes[i] = strings.TrimSpace(c)
	}
	return fmt.Errorf("%w (%s)", ErrDirty, strings.Join(changes, ", "))
}

// Worktree is the code a test builds: HEAD's commit and the tree the
// worktree holds, which is HEAD's tree only when the worktree is clean.
type Worktree struct {
	Commit, Tree string
	Changes      []string // empty when clean
}

// Clean reports whether the worktree is HEAD's tree.
func (w *Worktree) Clean() bool { return len(w.Changes) == 0 }

// ReadWorktree finds what a build of the worktree would build. For a dirty
// worktree the tree is written from a temporary index (git add -A), so a
// verdict is never recorded under a tree that was not built.
func ReadWorktree(ctx context.Context, g Git) (*Worktree, error) {
	// HEAD and the worktree's status are independent reads: the status
	// (a stat of every tracked file) runs next to rev-parse.
	var changes []string
	var changesErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		changes, changesErr = Changes(ctx, g)
	}()
	w, err := readHead(ctx, g)
	<-done
	if err != nil {
		return nil, err
	}
	if w.Changes, err = changes, changesErr; err != nil || w.Clean() {
		return w, err
	}
	if w.Tree, err = worktreeTree(ctx, g); err != nil {
		return nil, fmt.Errorf("read worktree: %w", err)
	}
	return w, nil
}

// readHead is HEAD's commit and tree, taken as the worktree's without
// looking at the worktree.
func readHead(ctx context.Context, g Git) (*Worktree, error) {
	ids, err := g.Git(ctx, "rev-parse", "HEAD", "HEAD^{tree}")
	if err != nil {
		return nil, fmt.Errorf("read HEAD: %w", err)
	}
	w := &Worktree{}
	if n, _ := fmt.Sscan(ids, &w.Commit, &w.Tree); n != 2 {
		return nil, fmt.Errorf("read HEAD: unexpected %q", ids)
	}
	return w, nil
}

// worktreeTree writes the worktree's tree through a temporary copy of the
// index; the real index and the worktree are left alone.
func worktreeTree(ctx context.Context, g Git) (string, error) { return indexTree(ctx, g, "", ".") }

// indexTree writes the tree of the worktree directory rel ("." for the
// whole worktree), tracked and untracked files alike (ignored ones left
// out), through a temporary copy of the index; the real index and the
// worktree are left alone. repo names another repository's worktree ("":
// the one git runs in).
func indexTree(ctx context.Context, g Git, repo, rel string) (string, error) {
	var in []string
	if repo != "" {
		in = []string{"-C", repo}
	}
	git := func(env []string, args ...string) (string, error) {
		return g.GitEnv(ctx, env, append(append([]string(nil), in...), args...)...)
	}
	idx, err := git(nil, "rev-parse", "--path-format=absolute", "--git-path", "index")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(idx), "rapido-index-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	defer os.Remove(tmp + ".lock")
	env := []string{"GIT_INDEX_FILE=" + tmp}
	// Starting from the real index keeps its stat data, so git add need
	// not hash every file of the tree again.
	if b, err := os.ReadFile(idx); err == nil {
		err = os.WriteFile(tmp, b, 0o600)
		if err != nil {
			return "", err
		}
	} else {
		os.Remove(tmp)
		if _, err := git(env, "read-tree", "HEAD"); err != nil {
			return "", err
		}
	}
	if rel == "." {
		if _, err := git(env, "add", "-A"); err != nil {
			return "", err
		}
		return git(env, "write-tree")
	}
	// rel is relative to the top whatever directory git runs in, and
	// taken literally: a directory named "*" is not a glob.
	if _, err := git(env, "add", "-A", "--", ":(top,literal)"+rel); err != nil {
		return "", err
	}
	return git(env, "write-tree", "--prefix="+rel+"/")
}
