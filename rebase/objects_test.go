package rebase

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// noCatFile is a runner on which "git cat-file" fails: a read that still
// succeeds came from go-git.
type noCatFile struct{ *runner }

func (r noCatFile) GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	if len(args) > 0 && args[0] == "cat-file" {
		return nil, errors.New("cat-file not allowed here")
	}
	return r.runner.GitInput(ctx, stdin, args...)
}

// go-git reads the commit where it supports the repository (no process);
// git cat-file reads it where go-git cannot (SHA-256, worktreeConfig), and
// both give git's own bytes.
func TestReadCommitObject(t *testing.T) {
	r, dir := testRepo(t)
	commitFile(t, r)
	head := run(t, r, "rev-parse", "HEAD")
	want := run(t, r, "cat-file", "commit", head) + "\n"
	got, err := readCommitObject(context.Background(), noCatFile{r}, r.Dir, head)
	if err != nil || string(got) != want {
		t.Fatalf("SHA-1 repository through go-git: %v\n%q\nwant\n%q", err, got, want)
	}

	os.RemoveAll(filepath.Join(dir, ".git"))
	run(t, r, "init", "-q", "--object-format=sha256")
	commitFile(t, r)
	head = run(t, r, "rev-parse", "HEAD")
	want = run(t, r, "cat-file", "commit", head) + "\n"
	if got, err = readCommitObject(context.Background(), r, r.Dir, head); err != nil || string(got) != want {
		t.Fatalf("SHA-256 repository through git: %v\n%q\nwant\n%q", err, got, want)
	}
	if _, err := readCommitObject(context.Background(), noCatFile{r}, r.Dir, head); err == nil {
		t.Errorf("SHA-256 repository read without git cat-file: go-git cannot read it, so the read must have gone to git")
	}
}
