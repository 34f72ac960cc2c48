package vmrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/cache"
)

// Git is what the Tester needs of the git binary: plain commands, and
// commands with extra environment (a temporary index).
type Git interface {
	cache.Git
	GitEnv(ctx context.Context, env []string, args ...string) (string, error)
}

// Tester answers "test the checked-out code": from the verdict cache when
// a trusted verdict for the same tree and spec exists, else by running the
// test and recording the verdict under the tree that was built.
type Tester struct {
	Git   Git
	Host  Host
	Trust cache.Policy // what makes a cached verdict usable, and who we are
	// Signer, when set, signs every recorded verdict (rapido.signingKey).
	Signer cache.Signer
	// Warn receives warnings that do not change the verdict.
	Warn io.Writer
	// Run runs the test; nil means RunPlan of the test's plan (tests
	// replace it).
	Run func(ctx context.Context, s *Spec, h Host) (*Verdict, error)
}

// TestOptions adjust one test.
type TestOptions struct {
	Force bool // run whatever the cache holds
	// Repeat runs the test this many times whatever the cache holds,
	// stopping at the first run that does not pass (flaky tests).
	Repeat int
	// RequireClean refuses a worktree that differs from HEAD: the verdict
	// is going to tag HEAD.
	RequireClean bool
	// KnownClean says the caller put HEAD's tree in the worktree itself
	// and checked it was clean before (bisect checks out each step after
	// refusing a dirty worktree at its start): the git status on the way
	// in is skipped. A test that runs is still checked once its build is
	// done, before its verdict is recorded.
	KnownClean bool
}

// TestResult is the verdict and where it came from.
type TestResult struct {
	*Verdict
	Worktree *Worktree
	Spec     string         // the spec digest: the cache key besides the tree
	Cached   bool           // answered by the cache, nothing ran
	Decision cache.Decision // what the cache held before the test
}

// Test tests the worktree's code with spec s.
func (t *Tester) Test(ctx context.Context, s *Spec, o TestOptions) (*TestResult, error) {
	read := ReadWorktree
	if o.KnownClean {
		read = readHead
	}
	w, err := read(ctx, t.Git)
	if err != nil {
		return nil, err
	}
	if o.RequireClean && !w.Clean() {
		return nil, dirtyError(w.Changes)
	}
	// One plan: the key and every run come from it, the spec is resolved
	// once per test.
	plan, err := NewPlan(s, t.Host.Exec)
	if err != nil {
		return nil, err
	}
	digest, err := plan.Key()
	if err != nil {
		return nil, fmt.Errorf("digest test spec: %w", err)
	}
	r := &TestResult{Worktree: w, Spec: digest}
	c := &cache.Cache{Git: t.Git}
	es, err := c.Get(ctx, w.Tree)
	if err != nil {
		return nil, err
	}
	r.Decision = cache.Judge(w.Tree, digest, es, t.Trust)
	if !o.Force && o.Repeat <= 1 && r.Decision.Outcome == cache.Hit {
		r.Verdict, r.Cached = VerdictOf(r.Decision.Entry.Entry), true
		return r, nil
	}
	after := &worktreeCheck{git: t.Git}
	if r.Verdict, err = t.runN(ctx, s, plan, max(o.Repeat, 1), w.Tree, after); err != nil {
		return nil, err
	}
	if Cacheable(r.Verdict.Status) {
		t.store(ctx, c, w, after, digest, r.Verdict)
	}
	return r, nil
}

// worktreeCheck reads the worktree again once the first build is done: the
// sources have been read by then, so a worktree that still holds the tree
// the test started with means that tree is what was built. It runs next to
// the cut and the boot (a git status over a kernel's files takes tens of
// milliseconds), and store waits for it.
type worktreeCheck struct {
	git  Git
	once sync.Once
	done chan struct{}
	w    *Worktree
	err  error
}

// start begins the check in the background (the first call only).
func (c *worktreeCheck) start(ctx context.Context) {
	c.once.Do(func() {
		c.done = make(chan struct{})
		go func() {
			defer close(c.done)
			c.w, c.err = ReadWorktree(ctx, c.git)
		}()
	})
}

// worktree is the check's answer; without a build (it failed before its
// end, or no kernel was built) the check runs now.
func (c *worktreeCheck) worktree(ctx context.Context) (*Worktree, error) {
	c.start(ctx)
	<-c.done
	return c.w, c.err
}

// runN runs the test up to n times and stops at the first run that does not
// pass: that run is the verdict (any failure is the answer), with how many
// of the runs passed.
func (t *Tester) runN(ctx context.Context, s *Spec, plan *Plan, n int, tree string, after *worktreeCheck) (*Verdict, error) {
	run := t.Run
	if run == nil {
		run = func(ctx context.Context, _ *Spec, h Host) (*Verdict, error) { return RunPlan(ctx, plan, h) }
	}
	host := t.Host
	host.Built = func() { after.start(ctx) }
	// The build may reuse the last kernel when the tree read on the way
	// in differs from the one last built only in what no build input is.
	if host.Git == nil {
		host.Git = t.Git
	}
	host.Tree = tree
	var v *Verdict
	runs, passed := 0, 0
	for runs < n {
		rv, err := run(ctx, s, host)
		if err != nil {
			return nil, err
		}
		runs++
		v = rv
		if rv.Status != Pass {
			break
		}
		passed++
	}
	v.Runs, v.Passed = runs, passed
	return v, nil
}

// Cacheable reports whether a verdict describes the tree (and not the
// machine): infrastructure failures are never cached.
func Cacheable(s Status) bool { return s != Infra && s != "" }

// store records v for the worktree's tree, unless the worktree changed
// while the test ran (then no tree is known to have been built). Failing to
// store is a warning: the verdict stands.
func (t *Tester) store(ctx context.Context, c *cache.Cache, w *Worktree, after *worktreeCheck, spec string, v *Verdict) {
	warn := func(err error) {
		if t.Warn != nil {
			fmt.Fprintf(t.Warn, "warning: verdict not cached: %v\n", err)
		}
	}
	now, err := after.worktree(ctx)
	if err != nil {
		warn(err)
		return
	}
	if now.Tree != w.Tree || now.Commit != w.Commit {
		warn(fmt.Errorf("the worktree changed during the test (tree %.12s, now %.12s)", w.Tree, now.Tree))
		return
	}
	e := EntryOf(spec, w.Tree, v)
	if w.Clean() {
		// Tested as this very commit; log uses the parents to tell a
		// fresh verdict from one found by tree after a rebase.
		e.Commit = w.Commit
		if p, err := t.Git.Git(ctx, "show", "-s", "--format=%P", w.Commit); err == nil {
			e.Parents = strings.TrimSpace(p)
		}
	}
	if t.Trust.Local != nil {
		t.Trust.Local.Stamp(&e)
	}
	if t.Signer != nil {
		if e.Sig, err = t.Signer.SignEntry(e.Payload()); err != nil {
			warn(fmt.Errorf("sign: %w", err))
			return
		}
	}
	if err := c.Store(ctx, w.Tree, e); err != nil {
		warn(err)
	}
}

// EntryOf makes a cache entry of a verdict for tree under spec.
func EntryOf(spec, tree string, v *Verdict) cache.Entry {
	timings, _ := json.Marshal(v.Timings)
	return cache.Entry{Spec: spec, Tree: tree, Status: string(v.Status), Reason: v.Reason, Excerpt: v.Excerpt,
		Release: v.KernelRelease, Duration: v.Duration, Timings: timings, Time: v.Started.UTC().Truncate(time.Second),
		LogDir: v.LogDir, Runs: v.Runs, Passed: v.Passed}
}

// VerdictOf turns a cache entry back into a verdict.
func VerdictOf(e cache.Entry) *Verdict {
	v := &Verdict{Status: Status(e.Status), Reason: e.Reason, Excerpt: e.Excerpt, LogDir: e.LogDir,
		KernelRelease: e.Release, Started: e.Time, Duration: e.Duration, Runs: e.RunCount(), Passed: e.Passed}
	if len(e.Timings) > 0 {
		json.Unmarshal(e.Timings, &v.Timings) // unreadable timings only lose the breakdown
	}
	return v
}
