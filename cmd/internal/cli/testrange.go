package cli

// "git rapido test <revision range>": every commit of a range tested in job
// slots, without moving HEAD or rewriting anything. The schedule is
// vmrun/series; this file wires it to the Tester, the slots and the output.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/vmrun"
	"github.com/git-rapido/git-rapido/vmrun/series"
)

// rangeCommit is one commit of the range and what became of it; it is also
// the --json schema of each element of "commits" (docs/commands.md).
type rangeCommit struct {
	Commit   string        `json:"commit"`
	Tree     string        `json:"tree"`
	Subject  string        `json:"subject"`
	Merge    bool          `json:"merge,omitempty"`
	Verdict  string        `json:"verdict"` // pass, fail, crash, hang, build-fail, infra, untested
	Cached   bool          `json:"cached,omitempty"`
	Reason   string        `json:"reason,omitempty"`
	LogDir   string        `json:"log_dir,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Slot     int           `json:"slot,omitempty"`
	Spec     string        `json:"spec,omitempty"`

	ct *vmrun.CommitTest
}

// rangeReport is the --json output.
type rangeReport struct {
	Range   []string      `json:"range"`
	Jobs    int           `json:"jobs"`
	Verdict string        `json:"verdict"` // the worst verdict; "interrupted" after Ctrl-C
	Exit    int           `json:"exit"`
	Stopped string        `json:"stopped_at,omitempty"` // first failing commit, when not --keep-going
	Commits []rangeCommit `json:"commits"`
}

// listRange lists the range's commits, oldest first.
func listRange(ctx context.Context, env *Env, revs []string) ([]*rangeCommit, error) {
	args := append([]string{"log", "-z", "--reverse", "--topo-order", "--format=%H%x1f%T%x1f%P%x1f%s"}, revs...)
	args = append(args, "--")
	out, err := env.Runner.Output(ctx, "git", args...)
	if err != nil {
		return nil, &ExitError{Code: 128, Err: fmt.Errorf("test: bad revision range %q: %w", strings.Join(revs, " "), err)}
	}
	var cs []*rangeCommit
	for _, rec := range strings.Split(string(out), "\x00") {
		f := strings.SplitN(strings.TrimPrefix(rec, "\n"), "\x1f", 4)
		if len(f) != 4 {
			continue
		}
		cs = append(cs, &rangeCommit{Commit: f[0], Tree: f[1], Merge: len(strings.Fields(f[2])) > 1,
			Subject: termsafe.Escape(f[3]), Verdict: "untested"})
	}
	return cs, nil
}

// defaultJobs is --jobs when not given: from the CPUs and the memory
// available, each slot needing a guest's memory and a make's.
func defaultJobs(spec *vmrun.Spec, commits int) int {
	guest := parseMem(spec.QEMU.Memory)
	return series.DefaultJobs(series.Resources{CPUs: runtime.NumCPU(), MemAvail: memAvailable(),
		PerSlot: guest + 2<<30, Commits: commits})
}

func parseMem(m string) uint64 {
	m = strings.TrimSpace(strings.ToUpper(m))
	mult := uint64(1 << 20)
	switch {
	case strings.HasSuffix(m, "G"):
		mult, m = 1<<30, strings.TrimSuffix(m, "G")
	case strings.HasSuffix(m, "M"):
		m = strings.TrimSuffix(m, "M")
	}
	n, _ := strconv.ParseUint(m, 10, 64)
	return n * mult
}

func memAvailable() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// slotsOf is the repository's job slots.
func slotsOf(ctx context.Context, env *Env) (*series.Slots, error) {
	dir, err := env.Runner.Git(ctx, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return nil, fmt.Errorf("not in a git repository: %w", err)
	}
	return &series.Slots{Root: filepath.Join(strings.TrimSpace(dir), "rapido", "slots"), Git: env.Runner}, nil
}

// runTestRange tests every commit of revs. It returns the worst verdict's
// exit status as an error, as a single test does.
func runTestRange(ctx context.Context, env *Env, o *testOptions, revs, cmdArgs []string) error {
	if o.repeat > 1 {
		return Usagef("--repeat tests one commit; it does not take a revision range")
	}
	if o.jobs < 0 {
		return Usagef("--jobs: want a positive count")
	}
	commits, err := listRange(ctx, env, revs)
	if err != nil {
		return err
	}
	if len(commits) == 0 {
		return &ExitError{Code: 128, Err: fmt.Errorf("test: the range %s has no commits", strings.Join(revs, " ")),
			Hint: "name the commits to test, e.g. git rapido test origin/master..HEAD"}
	}
	dash := env.DashAt
	env.DashAt = -1
	if cmdArgs != nil {
		env.DashAt = 0
	}
	spec, err := o.test.Spec(ctx, env, cmdArgs)
	env.DashAt = dash
	if err != nil {
		return asCannotTest(err)
	}
	tester, err := newTester(ctx, env, o.test.host(env))
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	jobs := o.jobs
	if jobs == 0 {
		jobs = defaultJobs(spec, len(commits))
	}
	r := &rangeRun{env: env, o: o, spec: spec, tester: tester, commits: commits, jobs: jobs}
	return r.run(ctx, revs)
}

type rangeRun struct {
	env     *Env
	o       *testOptions
	spec    *vmrun.Spec
	tester  *vmrun.Tester
	commits []*rangeCommit
	jobs    int
	slots   *series.Slots
	open    []*series.Slot
	mu      sync.Mutex // the output and the commits' state
	printed int        // commits printed so far (in order)
}

// specFor is the spec of a commit tested in slot sl: the user's test,
// built from the slot's worktree into the slot's build directory.
func (r *rangeRun) specFor(sl *series.Slot, c *rangeCommit) *vmrun.Spec {
	s := *r.spec
	s.Build.SourceDir, s.Build.BuildDir = sl.Dir, sl.BuildDir
	if r.spec.Build.Jobs > 0 {
		s.Build.Jobs = series.MakeJobs(r.spec.Build.Jobs, r.jobs)
	}
	s.Label = c.Commit[:12]
	return &s
}

func (r *rangeRun) run(ctx context.Context, revs []string) error {
	env := r.env
	for _, c := range r.commits {
		if c.Merge {
			fmt.Fprintf(env.Stderr, "rapido: %.12s is a merge: tested like any commit (its tree)\n", c.Commit)
		}
	}
	// The cache answers first: only commits it cannot answer take a slot,
	// and a cached failure ends the range there (unless --keep-going).
	ids := make([]vmrun.Commit, len(r.commits))
	for i, c := range r.commits {
		ids[i] = vmrun.Commit{ID: c.Commit, Tree: c.Tree}
	}
	cts, err := r.tester.LookupAll(ctx, r.spec, ids, vmrun.TestOptions{Force: r.o.force})
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	var todo []*rangeCommit
	for i, c := range r.commits {
		c.ct, c.Spec = cts[i], cts[i].Result.Spec
		if c.ct.Result.Cached {
			r.record(c)
			if !r.o.keepGoing && failed(c) {
				break
			}
			continue
		}
		todo = append(todo, c)
	}
	var runErr error
	if len(todo) > 0 {
		runErr = r.schedule(ctx, todo)
	}
	r.mu.Lock()
	r.flush(true)
	r.mu.Unlock()
	return r.finish(ctx, revs, runErr)
}

// schedule tests the commits the cache did not answer over the slots.
func (r *rangeRun) schedule(ctx context.Context, todo []*rangeCommit) error {
	slots, err := slotsOf(ctx, r.env)
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	if err := slots.Lock(); err != nil {
		return &ExitError{Code: 128, Err: err, Hint: "wait for it, or remove the slots with git rapido test --remove-slots"}
	}
	defer slots.Unlock()
	r.slots = slots
	assign := series.Assign(len(todo), r.jobs)
	var first []string
	for _, a := range assign {
		first = append(first, todo[a[0]].Commit)
	}
	if r.open, err = slots.Open(ctx, first); err != nil {
		if ctx.Err() != nil {
			slots.RemoveWorktrees(ctx)
			return ctx.Err()
		}
		return &ExitError{Code: 128, Err: err}
	}
	// A new slot starts from the user's build rather than cold; the slots
	// are seeded side by side (copying is I/O).
	var wg sync.WaitGroup
	for _, sl := range r.open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			ok, err := slots.Seed(ctx, sl, r.spec.Build.SourceDir, r.spec.Build.BuildDir)
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				fmt.Fprintf(r.env.Stderr, "warning: %v\n", err)
			} else if ok {
				fmt.Fprintf(r.env.Stderr, "rapido: slot %d: build directory seeded from %s in %s\n", sl.N, r.spec.Build.BuildDir, time.Since(t).Round(100*time.Millisecond))
			}
		}()
	}
	wg.Wait()
	progress := func(sl *series.Slot, c *rangeCommit, what string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		fmt.Fprintf(r.env.Stderr, "rapido: slot %d: %s %.12s %s\n", sl.N, what, c.Commit, c.Subject)
	}
	st := series.Stages{
		Build: func(ctx context.Context, slot, i int) error {
			sl, c := r.open[slot], todo[i]
			c.Slot = sl.N
			if err := slots.Checkout(ctx, sl, c.Commit); err != nil {
				return err
			}
			ct := c.ct
			progress(sl, c, "build")
			h := r.tester.Host
			h.Progress, h.Terminal = io.Discard, false
			// The build's skip decision reads the slot's worktree, never
			// the user's: git runs in the slot.
			h.Git, h.Tree = slotGit{cliGit{r.env.Runner}, sl.Dir}, ""
			reread := func(ctx context.Context) (*vmrun.Worktree, error) {
				return vmrun.ReadWorktree(ctx, slotGit{cliGit{r.env.Runner}, sl.Dir})
			}
			if err := ct.Build(ctx, r.specFor(sl, c), h, reread); err != nil {
				return err
			}
			if !ct.Done() {
				slots.Built(sl, c.Commit)
			}
			return nil
		},
		Boot: func(ctx context.Context, slot, i int) error {
			c := todo[i]
			if !c.ct.Done() {
				progress(r.open[slot], c, "boot")
			}
			if err := c.ct.Boot(ctx); err != nil {
				return err
			}
			r.record(c)
			return nil
		},
		Failed: func(i int) bool { return failed(todo[i]) },
	}
	_, err = series.Run(ctx, len(todo), series.Options{Slots: r.jobs, KeepGoing: r.o.keepGoing}, st)
	if ctx.Err() != nil {
		// Ctrl-C: no worktree of ours is left; the build directories
		// stay warm for the next run and every verdict found is kept.
		slots.RemoveWorktrees(ctx)
		return ctx.Err()
	}
	return err
}

func failed(c *rangeCommit) bool { return c.Verdict != "untested" && c.Verdict != string(vmrun.Pass) }

// record takes a commit's verdict and prints every line now in order.
func (r *rangeRun) record(c *rangeCommit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := c.ct.Result.Verdict
	c.Verdict, c.Cached, c.Reason = string(v.Status), c.ct.Result.Cached, termsafe.Escape(v.Reason)
	c.LogDir, c.Duration = v.LogDir, v.Duration
	r.flush(false)
}

// flush prints the commits whose verdicts are known, in range order (all
// of them at the end).
func (r *rangeRun) flush(all bool) {
	if r.o.json {
		return
	}
	for r.printed < len(r.commits) {
		c := r.commits[r.printed]
		if c.Verdict == "untested" && !all {
			return
		}
		v := c.Verdict
		if c.Cached {
			v += " (cached)"
		}
		subj := c.Subject
		if len(subj) > 50 {
			subj = subj[:47] + "..."
		}
		dur := ""
		if c.Duration > 0 && !c.Cached {
			dur = c.Duration.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(r.env.Stdout, "%.12s %-50s %-18s %7s\n", c.Commit, subj, v, dur)
		if failed(c) && c.LogDir != "" {
			fmt.Fprintf(r.env.Stdout, "    %s; logs in %s\n", c.Reason, termsafe.Escape(c.LogDir))
		}
		r.printed++
	}
}

// finish prints the summary (or the JSON report) and returns the worst
// verdict's exit status.
func (r *rangeRun) finish(ctx context.Context, revs []string, runErr error) error {
	counts := map[string]int{}
	worst, code, cached := "pass", 0, 0
	stopped := ""
	for _, c := range r.commits {
		counts[c.Verdict]++
		if c.Cached {
			cached++
		}
		if c.Verdict == "untested" {
			continue
		}
		if k := vmrun.Status(c.Verdict).ExitCode(); k > code {
			worst, code = c.Verdict, k
		}
		if failed(c) && stopped == "" && !r.o.keepGoing {
			stopped = c.Commit
		}
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) && code < 128 {
		worst, code = string(vmrun.Infra), 128
	}
	if ctx.Err() != nil {
		worst, code = "interrupted", 130
	}
	if r.o.json {
		rep := rangeReport{Range: revs, Jobs: r.jobs, Verdict: worst, Exit: code, Stopped: stopped}
		for _, c := range r.commits {
			rep.Commits = append(rep.Commits, *c)
		}
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(r.env.Stdout, string(b))
	} else {
		var parts []string
		for _, v := range []string{"pass", "fail", "crash", "hang", "build-fail", "infra", "untested"} {
			if counts[v] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
			}
		}
		line := fmt.Sprintf("%d commit(s): %s", len(r.commits), strings.Join(parts, ", "))
		if cached > 0 {
			line += fmt.Sprintf(" (%d from the cache)", cached)
		}
		if stopped != "" && counts["untested"] > 0 {
			line += fmt.Sprintf("; stopped at %.12s (--keep-going tests the rest)", stopped)
		}
		fmt.Fprintln(r.env.Stdout, line)
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var xe *ExitError
		if errors.As(runErr, &xe) {
			return runErr
		}
		return &ExitError{Code: 128, Err: runErr}
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// slotGit runs git in a slot's worktree.
type slotGit struct {
	cliGit
	dir string
}

func (g slotGit) Git(ctx context.Context, args ...string) (string, error) {
	return g.cliGit.Git(ctx, append([]string{"-C", g.dir}, args...)...)
}

func (g slotGit) GitEnv(ctx context.Context, env []string, args ...string) (string, error) {
	return g.cliGit.GitEnv(ctx, env, append([]string{"-C", g.dir}, args...)...)
}

func (g slotGit) GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return g.cliGit.GitInput(ctx, stdin, append([]string{"-C", g.dir}, args...)...)
}

// removeSlots is "git rapido test --remove-slots".
func removeSlots(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		return Usagef("--remove-slots takes no argument")
	}
	slots, err := slotsOf(ctx, env)
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	if err := slots.Lock(); err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	defer slots.Unlock()
	if err := slots.Remove(ctx); err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	fmt.Fprintf(env.Stderr, "rapido: removed the job slots in %s\n", slots.Root)
	return nil
}
