package rebase

import (
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// readCommitObject returns the raw commit object id (headers, blank line,
// message), exactly as "git cat-file commit" prints it. go-git reads it in
// process where it supports the repository; where it does not (SHA-256
// object format, extensions such as worktreeConfig, or any other reason it
// refuses to open the repository or find the object) git reads it. go-git
// only ever reads here: the commit is written by git (writeCommit).
func readCommitObject(ctx context.Context, g Git, dir, id string) ([]byte, error) {
	if raw, ok := readWithGoGit(dir, id); ok {
		return raw, nil
	}
	raw, err := g.GitInput(ctx, nil, "cat-file", "commit", id)
	if err != nil {
		return nil, fmt.Errorf("amend: read commit %.12s: %w", id, err)
	}
	return raw, nil
}

// readWithGoGit is readCommitObject's in-process path; ok is false
// whenever go-git cannot answer for certain.
func readWithGoGit(dir, id string) ([]byte, bool) {
	if dir == "" || len(id) != 40 {
		return nil, false // only SHA-1 ids: go-git's object format
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, false
	}
	obj, err := repo.Storer.EncodedObject(plumbing.CommitObject, plumbing.NewHash(id))
	if err != nil {
		return nil, false
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, false
	}
	defer rd.Close()
	raw, err := io.ReadAll(rd)
	if err != nil {
		return nil, false
	}
	return raw, true
}
