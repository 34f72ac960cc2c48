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
	"testing"
)

// runner is the test's Git: plain os/exec in a fixed directory and
// environment (domain packages do not import cmd's runner).
type runner struct {
	Dir string
	Env []string
}

func (r *runner) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = r.Dir, append(os.Environ(), r.Env...)
	return cmd
}

func (r *runner) Run(cmd *exec.Cmd) error {
	var errb strings.Builder
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, errb.String())
	}
	return nil
}

func (r *runner) Git(ctx context.Context, args ...string) (string, error) {
	out, err := r.GitInput(ctx, nil, args...)
	return strings.TrimSuffix(string(out), "\n"), err
}

func (r *runner) GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := r.Command(ctx, "git", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := r.Run(cmd)
	return out.Bytes(), err
}

// testRepo makes a repository in a private HOME with fixed identities.
func testRepo(t *testing.T) (*runner, string) {
	t.Helper()
	dir := t.TempDir()
	r := &runner{Dir: dir, Env: []string{
		"HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com", "GIT_AUTHOR_DATE=1700000000 +0000",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com", "GIT_COMMITTER_DATE=1700000100 +0000",
	}}
	run(t, r, "init", "-q")
	return r, dir
}

func run(t *testing.T, r *runner, args ...string) string {
	t.Helper()
	out, err := r.Git(context.Background(), args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestAmendRefusesWhenHEADMoved(t *testing.T) {
	r, dir := testRepo(t)
	run(t, r, "commit", "-q", "--allow-empty", "-m", "one")
	tested := run(t, r, "rev-parse", "HEAD")
	run(t, r, "commit", "-q", "--allow-empty", "-m", "two")
	head := run(t, r, "rev-parse", "HEAD")
	_, err := Amend(context.Background(), r, AmendOptions{Dir: dir, Commit: tested, Message: []byte("one\n\nTested-by: X <x@y>\n")})
	if !errors.Is(err, ErrMoved) {
		t.Fatalf("Amend(old commit) = %v, want ErrMoved", err)
	}
	if got := run(t, r, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved to %s after a refused amend", got)
	}
}

func TestAmendRefusesDirtyIndex(t *testing.T) {
	r, dir := testRepo(t)
	os.WriteFile(filepath.Join(dir, "f"), []byte("a\n"), 0o644)
	run(t, r, "add", "f")
	run(t, r, "commit", "-q", "-m", "one")
	head := run(t, r, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(dir, "f"), []byte("b\n"), 0o644)
	run(t, r, "add", "f")
	_, err := Amend(context.Background(), r, AmendOptions{Dir: dir, Commit: head, Message: []byte("x\n")})
	if !errors.Is(err, ErrDirty) {
		t.Fatalf("Amend(dirty index) = %v, want ErrDirty", err)
	}
	if got := run(t, r, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved after a refused amend")
	}
}

// A merge keeps both parents and its tree; the ref moves with a reflog
// entry on both HEAD and the branch; fsck is happy.
func TestAmendMergeCommit(t *testing.T) {
	r, dir := testRepo(t)
	run(t, r, "commit", "-q", "--allow-empty", "-m", "base")
	run(t, r, "checkout", "-q", "-b", "side")
	os.WriteFile(filepath.Join(dir, "s"), []byte("side\n"), 0o644)
	run(t, r, "add", "s")
	run(t, r, "commit", "-q", "-m", "side")
	run(t, r, "checkout", "-q", "-")
	os.WriteFile(filepath.Join(dir, "m"), []byte("main\n"), 0o644)
	run(t, r, "add", "m")
	run(t, r, "commit", "-q", "-m", "main")
	run(t, r, "merge", "-q", "--no-edit", "side")
	head := run(t, r, "rev-parse", "HEAD")
	parents := run(t, r, "show", "-s", "--format=%P", "HEAD")
	tree := run(t, r, "rev-parse", "HEAD^{tree}")
	branch := run(t, r, "symbolic-ref", "--short", "HEAD")

	res, err := Amend(context.Background(), r, AmendOptions{Dir: dir, Commit: head,
		Message: []byte("Merge branch 'side'\n\nTested-by: T <t@example.org>\n"), Reflog: "rapido test: merge"})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, r, "show", "-s", "--format=%P", "HEAD"); got != parents {
		t.Errorf("parents = %q, want %q", got, parents)
	}
	if got := run(t, r, "rev-parse", "HEAD^{tree}"); got != tree {
		t.Errorf("tree changed")
	}
	if got := run(t, r, "rev-parse", branch); got != res.New {
		t.Errorf("branch %s = %s, want the amended %s", branch, got, res.New)
	}
	for _, ref := range []string{"HEAD", branch} {
		if got := run(t, r, "reflog", "-1", "--format=%gs", ref); got != "rapido test: merge" {
			t.Errorf("reflog of %s = %q", ref, got)
		}
	}
	if got := run(t, r, "show", "-s", "--format=%an %ad", "--date=raw", "HEAD"); got != "A U Thor 1700000000 +0000" {
		t.Errorf("author = %q, want kept", got)
	}
	run(t, r, "fsck", "--strict")
}

// A failing commit-msg hook aborts the amend; --no-verify skips it.
func TestAmendCommitMsgHook(t *testing.T) {
	r, dir := testRepo(t)
	run(t, r, "commit", "-q", "--allow-empty", "-m", "one")
	head := run(t, r, "rev-parse", "HEAD")
	hook := filepath.Join(dir, ".git", "hooks", "commit-msg")
	os.MkdirAll(filepath.Dir(hook), 0o755)
	os.WriteFile(hook, []byte("#!/bin/sh\necho nope >&2\nexit 1\n"), 0o755)
	_, err := Amend(context.Background(), r, AmendOptions{Dir: dir, Commit: head, Message: []byte("one\n\nX: y\n")})
	if err == nil || !strings.Contains(err.Error(), "commit-msg hook refused") {
		t.Fatalf("Amend with a failing commit-msg = %v", err)
	}
	if got := run(t, r, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved after the hook refused")
	}
	if _, err := Amend(context.Background(), r, AmendOptions{Dir: dir, Commit: head, Message: []byte("one\n\nX: y\n"), NoVerify: true}); err != nil {
		t.Errorf("Amend --no-verify = %v", err)
	}
}

// The signature covers the object in the repository's own format, in the
// header git verifies for it (gpgsig for SHA-1, gpgsig-sha256 for SHA-256).
func TestAmendSignsWithGPG(t *testing.T) {
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) { testAmendSigns(t, format) })
	}
}

func testAmendSigns(t *testing.T, format string) {
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	r, dir := testRepo(t)
	os.RemoveAll(filepath.Join(dir, ".git"))
	run(t, r, "init", "-q", "--object-format="+format)
	gnupg := filepath.Join(dir, ".gnupg")
	os.MkdirAll(gnupg, 0o700)
	r.Env = append(r.Env, "GNUPGHOME="+gnupg)
	gen := exec.Command("gpg", "--batch", "--passphrase", "", "--quick-gen-key", "C O Mitter <committer@example.com>", "ed25519", "sign", "never")
	gen.Env = append(os.Environ(), "GNUPGHOME="+gnupg)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gpg key: %v\n%s", err, out)
	}
	run(t, r, "config", "commit.gpgSign", "true")
	run(t, r, "commit", "-q", "--allow-empty", "-m", "one")
	head := run(t, r, "rev-parse", "HEAD")
	if _, err := Amend(context.Background(), r, AmendOptions{Dir: dir, Commit: head, Message: []byte("one\n\nTested-by: T <t@e>\n")}); err != nil {
		t.Fatal(err)
	}
	run(t, r, "verify-commit", "HEAD")
	run(t, r, "fsck", "--strict")
}

// The committer comes from git var: GIT_COMMITTER_* win, as in git.
func TestCommitterIdent(t *testing.T) {
	r, _ := testRepo(t)
	got, err := committerIdent(context.Background(), r)
	if err != nil || got != "C O Mitter <committer@example.com> 1700000100 +0000" {
		t.Errorf("committerIdent = %q, %v", got, err)
	}
}
