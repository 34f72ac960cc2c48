package rebase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// PreflightOptions adjust Preflight.
type PreflightOptions struct {
	// CleanCheckedLater leaves the clean-tree check to the caller, which
	// makes it before any build anyway (vmrun.Tester with RequireClean):
	// a git status over a kernel's files is the costliest check here.
	CleanCheckedLater bool
	// Dir is the worktree, where go-git may read the commit in process
	// ("" lets git read it).
	Dir string
}

// ErrUnborn means HEAD has no commit yet: there is nothing to amend.
var ErrUnborn = errors.New("HEAD has no commit yet")

// Preflight refuses, before any test starts, everything that would make
// Amend fail once the verdict is in: a repository git cannot read, an
// unborn HEAD, uncommitted changes, no committer identity, an object
// database or git directory that cannot be written, a signing key that
// commit.gpgSign needs but gpg cannot use. Hooks can still refuse at the
// end: they are the user's to run then, not before. A detached HEAD is
// fine (rebase exec lines run on one).
func Preflight(ctx context.Context, g Git, o PreflightOptions) error {
	if _, err := g.Git(ctx, "rev-parse", "--show-object-format"); err != nil {
		return &Refusal{Err: fmt.Errorf("amend: cannot read the repository: %w", err),
			Hint: "this git cannot read the repository's format; use the git that created it"}
	}
	head, err := g.Git(ctx, "rev-parse", "--verify", "-q", "HEAD^{commit}")
	if err != nil || head == "" {
		return &Refusal{Err: fmt.Errorf("amend: %w", ErrUnborn), Hint: "commit first: git rapido tags an existing commit"}
	}
	if !o.CleanCheckedLater {
		if err := CheckClean(ctx, g); err != nil {
			return err
		}
	}
	if err := checkWritable(ctx, g); err != nil {
		return err
	}
	ident, err := committerIdent(ctx, g)
	if err != nil {
		return err
	}
	if err := checkRewrite(ctx, g, o.Dir, head, ident); err != nil {
		return err
	}
	// Sign a throwaway payload exactly as the amend will sign the commit:
	// a missing key, a locked card or a wrong passphrase shows now.
	_, err = signPayload(ctx, g, ident, []byte("git rapido: can this key sign?\n"))
	return err
}

// checkRewrite builds the amended commit (with HEAD's own message) and
// has git check it without writing it: an old commit git reads but would
// not write again is found now, not after the test.
func checkRewrite(ctx context.Context, g Git, dir, head, ident string) error {
	raw, err := readCommitObject(ctx, g, dir, head)
	if err != nil {
		return err
	}
	_, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	body := append(append(rewriteHeader(raw, ident), '\n'), msg...)
	if _, err := g.GitInput(ctx, body, "hash-object", "-t", "commit", "--stdin"); err != nil {
		return &Refusal{Err: fmt.Errorf("amend: git would not write the amended %.12s: %w", head, err),
			Hint: "fix the commit (git commit --amend) or use --no-trailer"}
	}
	return nil
}

// checkWritable refuses a git directory or object database the amend could
// not write to (COMMIT_EDITMSG and the reflog; the new commit object). In a
// linked worktree the first is the worktree's own, the second the common
// one.
func checkWritable(ctx context.Context, g Git) error {
	out, err := g.Git(ctx, "rev-parse", "--path-format=absolute", "--absolute-git-dir", "--git-path", "objects")
	if err != nil {
		return fmt.Errorf("amend: find the git directory: %w", err)
	}
	for _, d := range strings.Split(out, "\n") {
		if err := syscall.Access(d, 2 /* W_OK */); err != nil {
			return &Refusal{Err: fmt.Errorf("amend: cannot write to %s: %w", d, err),
				Hint: "the amend writes a commit and a reflog entry there: make it writable"}
		}
	}
	return nil
}
