// Package rebase rewrites the commit under test the way
// "git commit --amend --cleanup=verbatim -F <msg>" would — author and date
// kept, committer refreshed, hooks run, re-signed when commit.gpgSign says
// so — but moves the ref with a compare-and-swap, so a verdict can never
// land on a commit other than the one that was tested. It also drives
// "git rebase -i --exec".
//
// The commit object is built with go-git from the old one; every change of
// state (the ref move and its reflog, hooks) goes through the git binary.
package rebase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

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
	msg := o.Message
	if !o.NoVerify {
		if err := runHook(ctx, g, o.Dir, hooks, "pre-commit", nil); err != nil {
			return nil, err
		}
	}
	// prepare-commit-msg and commit-msg may edit the message, through a
	// file, exactly as with git commit.
	gitDir, err := g.Git(ctx, "rev-parse", "--absolute-git-dir")
	if err != nil {
		return nil, fmt.Errorf("amend: %w", err)
	}
	msgFile := filepath.Join(gitDir, "COMMIT_EDITMSG")
	if err := os.WriteFile(msgFile, msg, 0o644); err != nil {
		return nil, fmt.Errorf("amend: write %s: %w", msgFile, err)
	}
	if err := runHook(ctx, g, o.Dir, hooks, "prepare-commit-msg", nil, msgFile, "message"); err != nil {
		return nil, err
	}
	if !o.NoVerify {
		if err := runHook(ctx, g, o.Dir, hooks, "commit-msg", nil, msgFile); err != nil {
			return nil, err
		}
	}
	if msg, err = os.ReadFile(msgFile); err != nil {
		return nil, fmt.Errorf("amend: %w", err)
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

func subject(msg []byte) string {
	s, _, _ := strings.Cut(string(msg), "\n")
	return s
}

// writeCommit builds the amended commit from the old one with go-git:
// tree, parents (merges included), author and encoding kept, committer
// refreshed, the old signature dropped and a new one made when
// commit.gpgSign is set. It returns the new commit's id.
func writeCommit(ctx context.Context, g Git, dir, oldID string, msg []byte) (string, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return "", fmt.Errorf("amend: open repository: %w", err)
	}
	old, err := repo.CommitObject(plumbing.NewHash(oldID))
	if err != nil {
		return "", fmt.Errorf("amend: read commit %.12s: %w", oldID, err)
	}
	ident, err := g.Git(ctx, "var", "GIT_COMMITTER_IDENT")
	if err != nil {
		return "", fmt.Errorf("amend: committer identity: %w (set user.name and user.email)", err)
	}
	committer, err := parseIdent(ident)
	if err != nil {
		return "", fmt.Errorf("amend: %w", err)
	}
	c := &object.Commit{
		Author:       old.Author,
		Committer:    committer,
		Message:      string(msg),
		TreeHash:     old.TreeHash,
		ParentHashes: old.ParentHashes,
		Encoding:     old.Encoding,
		MergeTag:     old.MergeTag,
	}
	if err := sign(ctx, g, c); err != nil {
		return "", err
	}
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return "", fmt.Errorf("amend: encode commit: %w", err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return "", fmt.Errorf("amend: write commit: %w", err)
	}
	return h.String(), nil
}

var identRe = regexp.MustCompile(`^(.*) <([^>]*)> (\d+) ([+-]\d{4})$`)

// parseIdent parses "Name <email> 1700000000 +0100" as git var prints it.
func parseIdent(s string) (object.Signature, error) {
	m := identRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return object.Signature{}, fmt.Errorf("bad identity %q", s)
	}
	secs, _ := strconv.ParseInt(m[3], 10, 64)
	off, _ := strconv.Atoi(m[4][1:3])
	mins, _ := strconv.Atoi(m[4][3:5])
	tz := off*3600 + mins*60
	if m[4][0] == '-' {
		tz = -tz
	}
	return object.Signature{Name: m[1], Email: m[2], When: time.Unix(secs, 0).In(time.FixedZone("", tz))}, nil
}

// sign signs c with gpg when commit.gpgSign is set, the way git does:
// gpg.program (default gpg) --status-fd=2 -bsau <user.signingKey or the
// committer>, reading the unsigned commit on stdin.
func sign(ctx context.Context, g Git, c *object.Commit) error {
	on, _ := g.Git(ctx, "config", "--type=bool", "commit.gpgSign")
	if on != "true" {
		return nil
	}
	if f, _ := g.Git(ctx, "config", "gpg.format"); f != "" && f != "openpgp" {
		return fmt.Errorf("amend: commit.gpgSign with gpg.format=%s is not supported; sign with openpgp or set commit.gpgSign=false", f)
	}
	program, _ := g.Git(ctx, "config", "gpg.program")
	if program == "" {
		program = "gpg"
	}
	key, _ := g.Git(ctx, "config", "user.signingKey")
	if key == "" {
		key = c.Committer.Name + " <" + c.Committer.Email + ">"
	}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return fmt.Errorf("amend: sign: %w", err)
	}
	r, _ := payload.Reader()
	cmd := g.Command(ctx, program, "--status-fd=2", "-bsau", key)
	cmd.Stdin = r
	var sig bytes.Buffer
	cmd.Stdout = &sig
	if err := g.Run(cmd); err != nil {
		return fmt.Errorf("amend: sign with %s: %w", program, err)
	}
	if !bytes.Contains(sig.Bytes(), []byte("-----BEGIN PGP SIGNATURE-----")) {
		return fmt.Errorf("amend: sign with %s: no signature produced", program)
	}
	c.PGPSignature = sig.String()
	return nil
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
