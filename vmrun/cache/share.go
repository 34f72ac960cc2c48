package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// List returns every (tree, entries) in the cache.
func (c *Cache) List(ctx context.Context) (map[string][]Entry, error) {
	if _, err := c.Git.Git(ctx, "rev-parse", "--verify", "-q", Ref); err != nil {
		return nil, nil // no verdict recorded yet
	}
	out, err := c.Git.Git(ctx, "notes", "--ref="+Ref, "list")
	if err != nil {
		return nil, fmt.Errorf("list verdict cache: %w", err)
	}
	// Two trees with identical notes share one blob: a blob maps to every
	// tree annotated with it.
	trees := map[string][]string{}
	var input strings.Builder
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		if _, seen := trees[f[0]]; !seen {
			input.WriteString(f[0] + "\n")
		}
		trees[f[0]] = append(trees[f[0]], f[1])
	}
	if len(trees) == 0 {
		return nil, nil
	}
	// One cat-file for all notes, not one git call per tree.
	raw, err := c.Git.GitInput(ctx, []byte(input.String()), "cat-file", "--batch")
	if err != nil {
		return nil, fmt.Errorf("list verdict cache: %w", err)
	}
	res := map[string][]Entry{}
	for blob, body := range splitBatch(raw) {
		for _, t := range trees[blob] {
			res[t] = Parse(body)
		}
	}
	return res, nil
}

// splitBatch reads "git cat-file --batch" output into object id -> content.
func splitBatch(raw []byte) map[string]string {
	objs := map[string]string{}
	for len(raw) > 0 {
		hdr, rest, ok := strings.Cut(string(raw), "\n")
		if !ok {
			break
		}
		f := strings.Fields(hdr)
		if len(f) != 3 {
			raw = []byte(rest)
			continue
		}
		size, err := strconv.Atoi(f[2])
		if err != nil || size > len(rest) {
			break
		}
		objs[f[0]] = rest[:size]
		raw = []byte(strings.TrimPrefix(rest[size:], "\n"))
	}
	return objs
}

// ErrBadRemote is returned by Push and Fetch for a remote that git would
// read as an option.
var ErrBadRemote = errors.New("a remote name or URL cannot start with '-'")

// CheckRemote refuses a remote argument that git would take for an option
// (--upload-pack=CMD, --receive-pack=CMD run CMD).
func CheckRemote(remote string) error {
	if remote == "" || strings.HasPrefix(remote, "-") {
		return fmt.Errorf("%q: %w", remote, ErrBadRemote)
	}
	return nil
}

// Push sends the verdicts to remote.
func (c *Cache) Push(ctx context.Context, remote string) (string, error) {
	if err := CheckRemote(remote); err != nil {
		return "", err
	}
	return c.Git.Git(ctx, "push", "--end-of-options", remote, Ref+":"+Ref)
}

// Fetch gets remote's verdicts and merges them into ours: every line of both
// sides is kept (cat_sort_uniq on sorted lines), including two lines for one
// spec; Judge decides which may be used.
func (c *Cache) Fetch(ctx context.Context, remote string) (string, error) {
	if err := CheckRemote(remote); err != nil {
		return "", err
	}
	tmp := "refs/notes/rapido-fetched"
	out, err := c.Git.Git(ctx, "fetch", "--end-of-options", remote, "+"+Ref+":"+tmp)
	if err != nil {
		return out, err
	}
	defer c.Git.Git(context.WithoutCancel(ctx), "update-ref", "-m", "rapido cache fetch", "-d", tmp)
	if _, err := c.Git.Git(ctx, "rev-parse", "--verify", "-q", Ref); err != nil {
		_, err := c.Git.Git(ctx, "update-ref", "-m", "rapido cache fetch", Ref, tmp)
		return out, err
	}
	m, err := c.Git.Git(ctx, "notes", "--ref="+Ref, "merge", "-q", "-s", "cat_sort_uniq", tmp)
	return out + m, err
}
