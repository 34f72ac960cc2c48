package cache

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/vmrun"
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

func cacheIn(dir string) *Cache { return &Cache{Git: &gitexec.Runner{Dir: dir}} }

func entry(spec string, s vmrun.Status) Entry {
	return Entry{Spec: spec, Status: s, Reason: "r " + spec, Time: time.Unix(1700000000, 0).UTC(), Duration: time.Second}
}

func TestStoreLookupReplace(t *testing.T) {
	dir, tree := repo(t)
	c, ctx := cacheIn(dir), context.Background()
	if e, err := c.Lookup(ctx, tree, "s1"); err != nil || e != nil {
		t.Fatalf("empty cache: Lookup = %v, %v; want nil, nil", e, err)
	}
	for _, e := range []Entry{entry("s2", vmrun.Fail), entry("s1", vmrun.Pass), entry("s2", vmrun.Pass)} {
		if err := c.Store(ctx, tree, e); err != nil {
			t.Fatal(err)
		}
	}
	es, err := c.Get(ctx, tree)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Spec != "s1" || es[1].Spec != "s2" || es[1].Status != vmrun.Pass {
		t.Fatalf("after storing s2=fail, s1=pass, s2=pass: %+v; want s1 pass, s2 pass, sorted by spec", es)
	}
	note, _ := exec.Command("git", "-C", dir, "notes", "--ref="+Ref, "show", tree).Output()
	if n := strings.Count(string(note), "\n"); n != 2 {
		t.Errorf("note has %d lines, want one JSON line per spec:\n%s", n, note)
	}
	if removed, err := c.Forget(ctx, tree, "s1"); err != nil || removed != 1 {
		t.Fatalf("Forget s1 = %d, %v", removed, err)
	}
	if e, _ := c.Lookup(ctx, tree, "s1"); e != nil {
		t.Errorf("s1 still cached after Forget")
	}
	if e, _ := c.Lookup(ctx, tree, "s2"); e == nil {
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
				errs <- cacheIn(d).Store(ctx, tree, entry(spec, vmrun.Pass))
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
	if len(es) != 2 || es[0].Spec != "a" || es[1].Status != vmrun.Fail {
		t.Fatalf("Parse = %+v", es)
	}
}

func TestCacheable(t *testing.T) {
	for s, want := range map[vmrun.Status]bool{vmrun.Pass: true, vmrun.Fail: true, vmrun.Crash: true, vmrun.BuildFail: true, vmrun.Infra: false, "": false} {
		if got := Cacheable(s); got != want {
			t.Errorf("Cacheable(%q) = %v, want %v", s, got, want)
		}
	}
}
