// Package rebase rewrites the commit under test the way
// "git commit --amend --cleanup=verbatim -F <msg>" would — author and date
// kept, committer refreshed, hooks run, re-signed when commit.gpgSign says
// so — but moves the ref with a compare-and-swap, so a verdict can never
// land on a commit other than the one that was tested. It also drives
// "git rebase -i --exec".
//
// Everything goes through the git binary: the commit object is written
// with git's plumbing (see commit.go), the ref moves with update-ref.
package rebase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/git-rapido/git-rapido/vmrun"
)

// Git runs the git binary; *gitexec.Runner satisfies it.
type Git interface {
	Git(ctx context.Context, args ...string) (string, error)
	GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error)
	Run(cmd *exec.Cmd) error
	Command(ctx context.Context, name string, args ...string) *exec.Cmd
}

// ErrMoved means HEAD no longer is the commit that was tested.
var ErrMoved = errors.New("HEAD moved since the test started")

// ErrDirty means the index or the worktree has uncommitted changes.
var ErrDirty = vmrun.ErrDirty

// AmendOptions describe one amend.
type AmendOptions struct {
	Dir      string // worktree top
	Commit   string // full id of the tested commit: HEAD must still be it
	Message  []byte // the new message, stored verbatim
	NoVerify bool   // skip pre-commit and commit-msg, as --no-verify
	Reflog   string // reflog message, e.g. "rapido test: <subject>"
	// Check, when set, is asked about the message after each hook that
	// may edit it: an error (e.g. "removed the Tested-by trailer") stops
	// the amend before anything is written.
	Check func(msg []byte) error
}

// Result is the rewritten commit.
type Result struct {
	Old, New string
}

// CheckClean refuses a dirty index or worktree, by the one clean-tree rule
// (vmrun.Changes: untracked files are fine, builds go out of tree). The
// sequencer would stop an exec line that left changes anyway; refusing
// first changes nothing.
func CheckClean(ctx context.Context, g Git) error { return vmrun.CheckClean(ctx, g) }

// Amend writes the rewritten commit and moves HEAD (and the branch it points
// to) from o.Commit to it, only if HEAD is still o.Commit.
func Amend(ctx context.Context, g Git, o AmendOptions) (*Result, error) {
	head, err := g.Git(ctx, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return nil, fmt.Errorf("amend: read HEAD: %w", err)
	}
	if head != o.Commit {
		return nil, fmt.Errorf("amend %.12s: %w (HEAD is now %.12s); not adding the verdict", o.Commit, ErrMoved, head)
	}
	if err := CheckClean(ctx, g); err != nil {
		return nil, fmt.Errorf("amend %.12s: %w", o.Commit, err)
	}
	hooks, err := hooksDir(ctx, g, o.Dir)
	if err != nil {
		return nil, err
	}
	msg, err := runMessageHooks(ctx, g, o, hooks)
	if err != nil {
		return nil, err
	}
	newID, err := writeCommit(ctx, g, o.Dir, o.Commit, msg)
	if err != nil {
		return nil, err
	}
	if newID == o.Commit {
		return &Result{Old: o.Commit, New: newID}, nil
	}
	reflog := o.Reflog
	if reflog == "" {
		reflog = "rapido: " + subject(msg)
	}
	// The compare-and-swap: update-ref refuses unless HEAD is still the
	// tested commit, and writes the reflog of HEAD and of its branch.
	if _, err := g.Git(ctx, "update-ref", "-m", reflog, "HEAD", newID, o.Commit); err != nil {
		return nil, fmt.Errorf("amend %.12s: %w: %v", o.Commit, ErrMoved, err)
	}
	runHook(ctx, g, o.Dir, hooks, "post-commit", nil)
	runHook(ctx, g, o.Dir, hooks, "post-rewrite", []byte(o.Commit+" "+newID+"\n"), "amend")
	return &Result{Old: o.Commit, New: newID}, nil
}

// runMessageHooks runs pre-commit, prepare-commit-msg and commit-msg as git
// commit does — the last two edit the message through COMMIT_EDITMSG — and
// returns the message they leave, asking o.Check after each edit.
func runMessageHooks(ctx context.Context, g Git, o AmendOptions, hooks string) ([]byte, error) {
	if !o.NoVerify {
		if err := runHook(ctx, g, o.Dir, hooks, "pre-commit", nil); err != nil {
			return nil, err
		}
	}
	gitDir, err := g.Git(ctx, "rev-parse", "--absolute-git-dir")
	if err != nil {
		return nil, fmt.Errorf("amend: %w", err)
	}
	msgFile := filepath.Join(gitDir, "COMMIT_EDITMSG")
	if err := os.WriteFile(msgFile, o.Message, 0o644); err != nil {
		return nil, fmt.Errorf("amend: write %s: %w", msgFile, err)
	}
	steps := []struct {
		hook string
		args []string
		skip bool
		hint string
	}{
		{"prepare-commit-msg", []string{msgFile, "message"}, false, "fix the prepare-commit-msg hook"},
		{"commit-msg", []string{msgFile}, o.NoVerify, "fix the commit-msg hook, or skip it with --no-verify"},
	}
	msg := o.Message
	for _, s := range steps {
		if s.skip {
			continue
		}
		if err := runHook(ctx, g, o.Dir, hooks, s.hook, nil, s.args...); err != nil {
			return nil, err
		}
		prev := msg
		if msg, err = os.ReadFile(msgFile); err != nil {
			return nil, fmt.Errorf("amend: %w", err)
		}
		if o.Check == nil || bytes.Equal(msg, prev) {
			continue
		}
		if err := o.Check(msg); err != nil {
			return nil, &Refusal{Err: fmt.Errorf("amend %.12s: the %s hook %w; nothing changed", o.Commit, s.hook, err), Hint: s.hint}
		}
	}
	return msg, nil
}

func subject(msg []byte) string {
	s, _, _ := strings.Cut(string(msg), "\n")
	return s
}

// hooksDir is where git looks for hooks, honouring core.hooksPath.
func hooksDir(ctx context.Context, g Git, dir string) (string, error) {
	p, err := g.Git(ctx, "rev-parse", "--git-path", "hooks")
	if err != nil {
		return "", fmt.Errorf("amend: find hooks: %w", err)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return p, nil
}

// runHook runs an executable hook if there is one; a failing pre-commit or
// commit-msg hook aborts the amend, as it aborts git commit.
func runHook(ctx context.Context, g Git, dir, hooks, name string, stdin []byte, args ...string) error {
	path := filepath.Join(hooks, name)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&0o111 == 0 {
		return nil
	}
	cmd := g.Command(ctx, path, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = os.Stderr // hooks talk to the user, as under git commit
	if err := g.Run(cmd); err != nil {
		return fmt.Errorf("amend: the %s hook refused: %w", name, err)
	}
	return nil
}
