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
	plan, digest, err := t.resolve(ctx, s)
	if err != nil {
		return nil, err
	}
	r := &TestResult{Worktree: w, Spec: digest}
	if why := plan.Uncached(); why != "" {
		// What the test reads has no key: the cache neither answers
		// nor records (docs/cache.md).
		t.warn(fmt.Errorf("%s", why))
		r.Decision.Outcome = cache.Miss
		r.Verdict, err = t.runN(ctx, s, plan, max(o.Repeat, 1), w.Tree, &worktreeCheck{git: t.Git})
		return r, err
	}
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
		if why := plan.sharesChanged(ctx, t.Git); why != "" {
			t.warn(fmt.Errorf("%s", why))
			return r, nil
		}
		t.store(ctx, c, w, after, digest, r.Verdict, described(plan))
	}
	return r, nil
}

// warn says why a verdict is not cached; the verdict stands.
func (t *Tester) warn(err error) {
	if t.Warn != nil {
		fmt.Fprintf(t.Warn, "warning: verdict not cached: %v\n", err)
	}
}

// worktreeCheck reads the worktree again once the first build is done: the
// sources have been read by then, so a worktree that still holds the tree
// the test started with means that tree is what was built. It runs next to
// the cut and the boot (a git status over a kernel's files takes tens of
// milliseconds), and store waits for it.
type worktreeCheck struct {
	git  Git
	read func(context.Context) (*Worktree, error) // nil: ReadWorktree(git)
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
			if c.read != nil {
				c.w, c.err = c.read(ctx)
			} else {
				c.w, c.err = ReadWorktree(ctx, c.git)
			}
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

// tree is the check's answer as the build record wants it: the tree.
func (c *worktreeCheck) tree(ctx context.Context) (string, error) {
	w, err := c.worktree(ctx)
	if err != nil {
		return "", err
	}
	return w.Tree, nil
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
	host.Reread = after.tree
	// The build may reuse the last kernel when the tree read on the way
	// in differs from the one last built only in what no build input is.
	if host.Git == nil {
		host.Git = t.Git
	}
	host.Tree = tree
	var v *Verdict
	runs, passed := 0, 0
	for runs < n {
		if runs == 1 {
			// The check is the first run's: a later one that runs make
			// reads the worktree after its own make.
			host.Reread = nil
		}
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
func (t *Tester) store(ctx context.Context, c *cache.Cache, w *Worktree, after *worktreeCheck, spec string, v *Verdict, desc []string) {
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
	e.Described = desc
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
		LogDir: v.LogDir, Runs: v.Runs, Passed: v.Passed, Accel: v.Accel}
}

// described is the plan in words for the cache entry: what --dry-run
// prints, less the cache key (the entry's Spec already is the key) and the
// shares' transport (the entry's share_transport has it).
func described(p *Plan) []string {
	lines, err := p.describe(false)
	if err != nil {
		return nil
	}
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, "cache key: ") {
			out = append(out, l)
		}
	}
	return out
}

// VerdictOf turns a cache entry back into a verdict.
func VerdictOf(e cache.Entry) *Verdict {
	v := &Verdict{Status: Status(e.Status), Reason: e.Reason, Excerpt: e.Excerpt, LogDir: e.LogDir,
		KernelRelease: e.Release, Started: e.Time, Duration: e.Duration, Runs: e.RunCount(), Passed: e.Passed, Accel: e.Accel}
	if len(e.Timings) > 0 {
		json.Unmarshal(e.Timings, &v.Timings) // unreadable timings only lose the breakdown
	}
	return v
}

// CommitTest is one commit's test in a series: looked up in the cache,
// then built, then booted, each step callable on its own so a series can
// build one commit while the previous one boots. The code is checked out
// by the caller (a slot's worktree), never in the user's worktree.
type CommitTest struct {
	t     *Tester
	c     *cache.Cache
	built *Built
	check *worktreeCheck
	desc  []string // the spec in words, stored with the verdict
	plan  *Plan    // the series' plan: its shares are read again after the test
	// uncached: what the test reads has no key (a writable share, say):
	// nothing is looked up or stored.
	uncached bool
	Result   *TestResult
}

// Commit names a commit of a series and its tree.
type Commit struct{ ID, Tree string }

// resolve makes the one plan of s that a test (or a series) keys and runs
// from, with its shares keyed, and returns it with the spec's cache key.
func (t *Tester) resolve(ctx context.Context, s *Spec) (*Plan, string, error) {
	plan, err := NewPlan(s, t.Host.Exec)
	if err != nil {
		return nil, "", err
	}
	if err := plan.KeyShares(ctx, t.Git); err != nil {
		return nil, "", err
	}
	digest, err := plan.Key()
	if err != nil {
		return nil, "", fmt.Errorf("digest test spec: %w", err)
	}
	return plan, digest, nil
}

// LookupAll prepares the tests of commits with spec s and answers each
// from the cache when it can (Result.Verdict set, Result.Cached true). The
// spec is resolved and the cache read once for the whole series.
func (t *Tester) LookupAll(ctx context.Context, s *Spec, commits []Commit, o TestOptions) ([]*CommitTest, error) {
	plan, digest, err := t.resolve(ctx, s)
	if err != nil {
		return nil, err
	}
	uncached := plan.Uncached()
	if uncached != "" {
		// What the tests read has no key: the cache neither answers nor
		// records, as for a single test.
		t.warn(fmt.Errorf("%s", uncached))
	}
	c := &cache.Cache{Git: t.Git}
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var cts []*CommitTest
	desc := described(plan)
	for _, cm := range commits {
		ct := &CommitTest{t: t, c: c, desc: desc, plan: plan, uncached: uncached != "", Result: &TestResult{Worktree: &Worktree{Commit: cm.ID, Tree: cm.Tree}, Spec: digest}}
		ct.Result.Decision = cache.Judge(cm.Tree, digest, all[cm.Tree], t.Trust)
		if uncached != "" {
			ct.Result.Decision.Outcome = cache.Miss
		}
		if !o.Force && ct.Result.Decision.Outcome == cache.Hit {
			ct.Result.Verdict, ct.Result.Cached = VerdictOf(ct.Result.Decision.Entry.Entry), true
		}
		cts = append(cts, ct)
	}
	return cts, nil
}

// Build builds and cuts the commit's kernel with s, the series' spec with
// the slot's source and build directories (its key must be the series'),
// and h (a slot's progress writer). reread, when set, reads the slot's
// worktree once the build has read the sources; the verdict is stored only
// if it still holds the commit's tree. After Build, Done says whether the
// boot is still to come.
func (ct *CommitTest) Build(ctx context.Context, s *Spec, h Host, reread func(context.Context) (*Worktree, error)) error {
	plan, err := NewPlan(s, ct.t.Host.Exec)
	if err != nil {
		return err
	}
	// The shares are the host's directories, the same for every slot:
	// their keys are the ones the series read (resolve), not read again.
	plan.shareKeys = ct.plan.shareKeys
	if k, err := plan.Key(); err != nil || k != ct.Result.Spec {
		return fmt.Errorf("test %.12s: the slot's test is not the series' (spec %.12s, want %.12s)", ct.Result.Worktree.Commit, k, ct.Result.Spec)
	}
	ct.check = &worktreeCheck{git: ct.t.Git, read: reread}
	host := h
	host.Built = func() { ct.check.start(ctx) }
	host.Reread = ct.check.tree
	b, err := BuildPlan(ctx, plan, host, true)
	ct.built = b
	if b.Done() {
		ct.Result.Verdict = b.Verdict()
	}
	if err != nil {
		return err
	}
	// The check reads the slot's worktree: it must be over before the
	// slot checks out its next commit.
	ct.check.worktree(ctx)
	return nil
}

// Done reports whether the commit's verdict is known (from the cache, or a
// build that ended the run).
func (ct *CommitTest) Done() bool {
	return ct.Result.Verdict != nil && (ct.built == nil || ct.built.Done())
}

// Boot boots the built kernel (when the build did not end the run) and
// records the verdict in the cache.
func (ct *CommitTest) Boot(ctx context.Context) error {
	if ct.Result.Cached {
		return nil
	}
	if ct.built == nil {
		return fmt.Errorf("test %.12s: boot before build", ct.Result.Worktree.Commit)
	}
	v, err := ct.built.Boot(ctx)
	if err != nil {
		return err
	}
	v.Runs, v.Passed = 1, 0
	if v.Status == Pass {
		v.Passed = 1
	}
	ct.Result.Verdict = v
	if Cacheable(v.Status) && !ct.uncached {
		if why := ct.plan.sharesChanged(ctx, ct.t.Git); why != "" {
			ct.t.warn(fmt.Errorf("%s", why))
			return nil
		}
		ct.t.store(ctx, ct.c, ct.Result.Worktree, ct.check, ct.Result.Spec, v, ct.desc)
	}
	return nil
}
