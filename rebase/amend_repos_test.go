package rebase

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// amendAndCheck adds a trailer to HEAD in the repository r works in and
// checks what git commit --amend would leave: the trailer, the author
// kept, the branch and HEAD moved with the reflog, fsck happy.
func amendAndCheck(t *testing.T, r *runner) {
	t.Helper()
	head := run(t, r, "rev-parse", "HEAD")
	tree := run(t, r, "rev-parse", "HEAD^{tree}")
	res, err := Amend(context.Background(), r, AmendOptions{Dir: r.Dir, Commit: head,
		Message: []byte("one\n\nTested-by: T <t@example.org>\n"), Reflog: "rapido test: one"})
	if err != nil {
		t.Fatalf("Amend: %v", err)
	}
	if got := run(t, r, "rev-parse", "HEAD"); got != res.New || got == head {
		t.Fatalf("HEAD = %s, want the amended %s", got, res.New)
	}
	if got := strings.TrimSpace(run(t, r, "log", "-1", "--format=%(trailers:key=Tested-by,valueonly)")); got != "T <t@example.org>" {
		t.Errorf("Tested-by = %q", got)
	}
	if got := run(t, r, "show", "-s", "--format=%an %ad|%cn", "--date=raw", "HEAD"); got != "A U Thor 1700000000 +0000|C O Mitter" {
		t.Errorf("author|committer = %q", got)
	}
	if got := run(t, r, "rev-parse", "HEAD^{tree}"); got != tree {
		t.Errorf("tree changed")
	}
	if got := run(t, r, "reflog", "-1", "--format=%gs", "HEAD"); got != "rapido test: one" {
		t.Errorf("reflog = %q", got)
	}
	run(t, r, "fsck", "--strict")
}

func commitFile(t *testing.T, r *runner) {
	t.Helper()
	os.WriteFile(filepath.Join(r.Dir, "f"), []byte("a\n"), 0o644)
	run(t, r, "add", "f")
	run(t, r, "commit", "-q", "-m", "one")
}

func TestAmendSHA256(t *testing.T) {
	r, dir := testRepo(t)
	os.RemoveAll(filepath.Join(dir, ".git"))
	run(t, r, "init", "-q", "--object-format=sha256")
	commitFile(t, r)
	amendAndCheck(t, r)
	if id := run(t, r, "rev-parse", "HEAD"); len(id) != 64 {
		t.Errorf("HEAD = %s, want a SHA-256 id", id)
	}
}

func TestAmendWorktreeConfig(t *testing.T) {
	r, _ := testRepo(t)
	run(t, r, "config", "core.repositoryFormatVersion", "1")
	run(t, r, "config", "extensions.worktreeConfig", "true")
	run(t, r, "config", "--worktree", "user.name", "W T")
	commitFile(t, r)
	amendAndCheck(t, r)
}

// In a linked worktree HEAD, COMMIT_EDITMSG and the reflog are the
// worktree's, the objects and the branch the common directory's.
func TestAmendLinkedWorktree(t *testing.T) {
	r, dir := testRepo(t)
	commitFile(t, r)
	wt := filepath.Join(dir, "linked")
	run(t, r, "worktree", "add", "-q", "-b", "side", wt)
	lr := &runner{Dir: wt, Env: r.Env}
	mainHead := run(t, r, "rev-parse", "HEAD")
	amendAndCheck(t, lr)
	if got := run(t, r, "rev-parse", "HEAD"); got != mainHead {
		t.Errorf("the main worktree's HEAD moved")
	}
	if got := run(t, r, "rev-parse", "side"); got != run(t, lr, "rev-parse", "HEAD") {
		t.Errorf("branch side = %s, not the amended commit", got)
	}
}

// A hook that edits away what the amend was for stops it: nothing is
// written, HEAD stays.
func TestAmendCheckAfterHooks(t *testing.T) {
	for _, hook := range []string{"commit-msg", "prepare-commit-msg"} {
		t.Run(hook, func(t *testing.T) {
			r, dir := testRepo(t)
			run(t, r, "commit", "-q", "--allow-empty", "-m", "one")
			head := run(t, r, "rev-parse", "HEAD")
			path := filepath.Join(dir, ".git", "hooks", hook)
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.WriteFile(path, []byte("#!/bin/sh\nsed -i '/^Tested-by:/d' \"$1\"\n"), 0o755)
			check := func(msg []byte) error {
				if !strings.Contains(string(msg), "Tested-by: T <t@e>") {
					return errRemoved
				}
				return nil
			}
			_, err := Amend(context.Background(), r, AmendOptions{Dir: dir, Commit: head,
				Message: []byte("one\n\nTested-by: T <t@e>\n"), Check: check})
			if err == nil || !strings.Contains(err.Error(), "the "+hook+" hook removed") {
				t.Fatalf("Amend = %v, want the %s hook named", err, hook)
			}
			if got := run(t, r, "rev-parse", "HEAD"); got != head {
				t.Errorf("HEAD moved")
			}
		})
	}
}

var errRemoved = errorString("removed the trailer")

type errorString string

func (e errorString) Error() string { return string(e) }

// The old signature goes, the committer is new, everything else in the
// header (mergetag, unknown fields, encoding) stays as it was.
func TestRewriteHeader(t *testing.T) {
	raw := "tree T\nparent P1\nparent P2\nauthor A <a> 1 +0000\ncommitter C <c> 1 +0000\nencoding ISO-8859-1\n" +
		"mergetag object X\n type commit\n tag v1\nx-custom y\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n" +
		"gpgsig-sha256 -----BEGIN PGP SIGNATURE-----\n def\n -----END PGP SIGNATURE-----\n\nmsg\n\nbody\n"
	want := "tree T\nparent P1\nparent P2\nauthor A <a> 1 +0000\ncommitter N <n> 2 +0100\nencoding ISO-8859-1\n" +
		"mergetag object X\n type commit\n tag v1\nx-custom y\n"
	if got := string(rewriteHeader([]byte(raw), "N <n> 2 +0100")); got != want {
		t.Errorf("rewriteHeader =\n%s\nwant\n%s", got, want)
	}
	if got := string(foldHeader("gpgsig", []byte("a\n\nb\n"))); got != "gpgsig a\n \n b\n" {
		t.Errorf("foldHeader = %q", got)
	}
}
