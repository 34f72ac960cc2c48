package cache

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// repo makes a repository with one commit in a temporary HOME, so the
// host's git configuration is never read, and returns its path and tree.
func repo(t *testing.T) (string, string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "A")
	t.Setenv("GIT_AUTHOR_EMAIL", "a@example.org")
	t.Setenv("GIT_COMMITTER_NAME", "A")
	t.Setenv("GIT_COMMITTER_EMAIL", "a@example.org")
	dir := filepath.Join(home, "repo")
	for _, args := range [][]string{{"init", "-q", dir}, {"-C", dir, "commit", "-q", "--allow-empty", "-m", "x"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	tree, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD^{tree}").Output()
	if err != nil {
		t.Fatal(err)
	}
	return dir, strings.TrimSpace(string(tree))
}

// dirGit runs git in one directory, with exit statuses as ExitStatus reads
// them.
type dirGit string

type exitErr struct{ *exec.ExitError }

func (e exitErr) ExitStatus() int { return e.ExitCode() }

func (d dirGit) GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = string(d)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return out, exitErr{ee}
	}
	return out, err
}

func (d dirGit) Git(ctx context.Context, args ...string) (string, error) {
	out, err := d.GitInput(ctx, nil, args...)
	return strings.TrimSuffix(string(out), "\n"), err
}

func cacheIn(dir string) *Cache { return &Cache{Git: dirGit(dir)} }

const (
	pass = "pass"
	fail = "fail"
)

func entry(spec string, s string) Entry {
	return Entry{Spec: spec, Status: s, Reason: "r " + spec, Time: time.Unix(1700000000, 0).UTC(), Duration: time.Second}
}

func TestStoreLookupReplace(t *testing.T) {
	dir, tree := repo(t)
	c, ctx := cacheIn(dir), context.Background()
	if e, err := lookup(ctx, c, tree, "s1"); err != nil || e != nil {
		t.Fatalf("empty cache: Lookup = %v, %v; want nil, nil", e, err)
	}
	for _, e := range []Entry{entry("s2", fail), entry("s1", pass), entry("s2", pass)} {
		if err := c.Store(ctx, tree, e); err != nil {
			t.Fatal(err)
		}
	}
	es, err := c.Get(ctx, tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Spec != "s1" || es[1].Spec != "s2" || es[1].Status != pass {
		t.Fatalf("after storing s2=fail, s1=pass, s2=pass: %+v; want s1 pass, s2 pass, sorted by spec", es)
	}
	note, _ := exec.Command("git", "-C", dir, "notes", "--ref="+Ref, "show", tree).Output()
	if n := strings.Count(string(note), "\n"); n != 2 {
		t.Errorf("note has %d lines, want one JSON line per spec:\n%s", n, note)
	}
	if removed, err := c.Forget(ctx, tree, "s1"); err != nil || removed != 1 {
		t.Fatalf("Forget s1 = %d, %v", removed, err)
	}
	if e, _ := lookup(ctx, c, tree, "s1"); e != nil {
		t.Errorf("s1 still cached after Forget")
	}
	if e, _ := lookup(ctx, c, tree, "s2"); e == nil {
		t.Errorf("Forget s1 removed s2 too")
	}
	if removed, err := c.Forget(ctx, tree, ""); err != nil || removed != 1 {
		t.Fatalf("Forget all = %d, %v", removed, err)
	}
	if all, err := c.List(ctx); err != nil || len(all) != 0 {
		t.Errorf("List after forgetting everything = %v, %v", all, err)
	}
}

// TestConcurrentWorktrees stores verdicts from two worktrees of one
// repository at the same time: none may be lost.
func TestConcurrentWorktrees(t *testing.T) {
	dir, tree := repo(t)
	wt := filepath.Join(filepath.Dir(dir), "wt")
	if out, err := exec.Command("git", "-C", dir, "worktree", "add", "-q", "--detach", wt).CombinedOutput(); err != nil {
		t.Fatalf("worktree add: %v\n%s", err, out)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		for j, d := range []string{dir, wt} {
			wg.Add(1)
			go func(d, spec string) {
				defer wg.Done()
				errs <- cacheIn(d).Store(ctx, tree, entry(spec, pass))
			}(d, fmt.Sprintf("spec-%d-%d", j, i))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	es, err := cacheIn(wt).Get(ctx, tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 20 {
		t.Fatalf("20 concurrent stores from two worktrees kept %d entries", len(es))
	}
}

func TestParseSkipsGarbage(t *testing.T) {
	es := Parse("{\"spec\":\"a\",\"status\":\"pass\"}\nnot json\n{}\n{\"spec\":\"b\",\"status\":\"fail\"}\n")
	if len(es) != 2 || es[0].Spec != "a" || es[1].Status != fail {
		t.Fatalf("Parse = %+v", es)
	}
}

func lookup(ctx context.Context, c *Cache, tree, spec string) (*Entry, error) {
	es, err := c.Get(ctx, tree)
	for i := range es {
		if es[i].Spec == spec {
			return &es[i], err
		}
	}
	return nil, err
}

// TestStoreKeepsOtherProducers: a new verdict replaces only its producer's
// old one for the spec; a teammate's verdict for the same spec stays.
func TestStoreKeepsOtherProducers(t *testing.T) {
	dir, tree := repo(t)
	c, ctx := cacheIn(dir), context.Background()
	mine, theirs := entry("s", pass), entry("s", fail)
	mine.By, mine.Machine = "me@example.org", "m1"
	theirs.By, theirs.Machine = "bob@example.org", "m2"
	for _, e := range []Entry{theirs, mine, mine} {
		if err := c.Store(ctx, tree, e); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := c.Get(ctx, tree)
	if len(es) != 2 {
		t.Fatalf("after bob's and twice my verdict for one spec: %d entries, want 2: %+v", len(es), es)
	}
}

// TestListTreesSharingABlob: two trees whose notes are byte-identical share
// one note blob; List must report both (issue 15).
func TestListTreesSharingABlob(t *testing.T) {
	dir, tree := repo(t)
	c, ctx := cacheIn(dir), context.Background()
	if _, err := dirGit(dir).GitInput(ctx, nil, "hash-object", "-w", "--stdin"); err != nil {
		t.Fatal(err)
	}
	other, err := dirGit(dir).GitInput(ctx, []byte("100644 blob e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\tx\n"), "mktree")
	if err != nil {
		t.Fatal(err)
	}
	tree2 := strings.TrimSpace(string(other))
	for _, tr := range []string{tree, tree2} {
		if err := c.Store(ctx, tr, entry("s", pass)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all[tree]) != 1 || len(all[tree2]) != 1 {
		t.Fatalf("List of two trees with identical notes = %v; want both trees", all)
	}
}

func TestCheckRemote(t *testing.T) {
	for r, ok := range map[string]bool{"origin": true, "../team.git": true, "https://x/y": true,
		"--receive-pack=touch pwned": false, "--upload-pack=x": false, "-q": false, "": false} {
		if err := CheckRemote(r); (err == nil) != ok {
			t.Errorf("CheckRemote(%q) = %v, want ok=%v", r, err, ok)
		}
	}
}

// TestFetchKeepsBothLinesOfOneSpec: after a fetch, our line and the
// remote's for the same tree and spec are both in the note, for Judge to
// weigh (cat_sort_uniq), and a repeated fetch adds nothing.
func TestFetchKeepsBothLinesOfOneSpec(t *testing.T) {
	dir, tree := repo(t)
	ctx := context.Background()
	clone := filepath.Join(filepath.Dir(dir), "clone")
	if out, err := exec.Command("git", "clone", "-q", dir, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	theirs, mine := entry("s", pass), entry("s", fail)
	theirs.By, mine.By = "bob@example.org", "me@example.org"
	if err := cacheIn(dir).Store(ctx, tree, theirs); err != nil {
		t.Fatal(err)
	}
	c := cacheIn(clone)
	if err := c.Store(ctx, tree, mine); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if out, err := c.Fetch(ctx, dir); err != nil {
			t.Fatalf("fetch: %v\n%s", err, out)
		}
	}
	es, err := c.Get(ctx, tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Status == es[1].Status {
		t.Fatalf("after fetching bob's pass next to my fail for one spec: %+v; want both", es)
	}
}
