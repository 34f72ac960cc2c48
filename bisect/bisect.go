// Package bisect drives git's own bisect machinery with test verdicts: it
// classifies each step the way kernel bisectors do (ktest.pl, syzbot,
// KernelCI), marks it with "git bisect good|bad|skip", and reports the
// culprit. git keeps the state, so "git bisect log" and "visualize" work
// throughout, and the repository is restored when the bisect ends, fails or
// is interrupted.
package bisect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/git-rapido/git-rapido/vmrun"
)

// Mark is what a verdict tells git bisect.
type Mark string

// The marks. Abort stops the bisect without marking the commit.
const (
	Good  Mark = "good"
	Bad   Mark = "bad"
	Skip  Mark = "skip"
	Abort Mark = "abort"
)

// Policy adjusts the classification.
type Policy struct {
	BuildFailBad bool // bisecting a build break: a build failure is bad
	HangSkip     bool // a hang is not the bug being hunted: skip it
}

// Classify maps a verdict to a bisect mark: pass is good; a test failure
// or a kernel crash is bad; a build failure is skipped (the commit cannot
// say anything about the bug) unless the bug is the build break; a hang is
// bad unless told to skip; infrastructure trouble aborts.
func Classify(s vmrun.Status, p Policy) Mark {
	switch s {
	case vmrun.Pass:
		return Good
	case vmrun.Fail, vmrun.Crash:
		return Bad
	case vmrun.BuildFail:
		if p.BuildFailBad {
			return Bad
		}
		return Skip
	case vmrun.Hang:
		if p.HangSkip {
			return Skip
		}
		return Bad
	}
	return Abort
}

// Git runs the git binary.
type Git interface {
	Git(ctx context.Context, args ...string) (string, error)
}

// Tester tests the commit checked out in the worktree.
type Tester interface {
	Test(ctx context.Context) (v *vmrun.Verdict, cached bool, err error)
}

// Options configure a bisect.
type Options struct {
	Bad            string
	Good           []string
	Policy         Policy
	CheckEndpoints bool // verify that good passes and bad fails first
	Confirm        bool // revert the culprit on top of bad and test that
	NoReset        bool // leave the bisect state and checkout as they end
	Progress       func(format string, a ...any)
}

// Step is one tested commit.
type Step struct {
	Commit   string        `json:"commit"`
	Subject  string        `json:"subject"`
	Role     string        `json:"role"` // endpoint-good, endpoint-bad, step, confirm
	Status   vmrun.Status  `json:"status"`
	Mark     Mark          `json:"mark"`
	Cached   bool          `json:"cached"`
	Runs     int           `json:"runs"`
	Reason   string        `json:"reason"`
	Excerpt  []string      `json:"excerpt,omitempty"`
	LogDir   string        `json:"log_dir,omitempty"`
	Timings  vmrun.Timings `json:"timings"`
	Duration time.Duration `json:"duration"`
}

// Report is the outcome.
type Report struct {
	Culprit     string   `json:"culprit,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	Author      string   `json:"author,omitempty"`
	Fixes       string   `json:"fixes,omitempty"`
	Candidates  []string `json:"candidates,omitempty"` // only skipped commits left
	Steps       []Step   `json:"steps"`
	Builds      int      `json:"builds"` // steps that were not answered by the cache
	Confirmed   *bool    `json:"confirmed,omitempty"`
	ConfirmNote string   `json:"confirm_note,omitempty"`
	BisectLog   string   `json:"bisect_log,omitempty"`
}

// ErrEndpoints means good does not pass or bad does not fail.
var ErrEndpoints = errors.New("the endpoints do not bracket a regression")

var (
	firstBadRe = regexp.MustCompile(`(?m)^([0-9a-f]{40}) is the first bad commit`)
	skippedRe  = regexp.MustCompile(`(?s)There are only 'skip'ped commits left to test\.\nThe first bad commit could be any of:\n(.*?)\nWe cannot bisect more!`)
	shaRe      = regexp.MustCompile(`[0-9a-f]{40}`)
)

// Run bisects. The repository is restored before it returns, whatever
// happens, unless o.NoReset and the bisect reached its end.
//
// It runs in three steps: the endpoints (resolve, and optionally test, bad
// and good), the loop (git bisect start, then test and mark until git
// names a culprit or gives up on skipped commits) and the finish (describe
// the culprit, optionally confirm it by a revert).
func Run(ctx context.Context, g Git, t Tester, o Options) (rep *Report, err error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	orig, bad, goods, err := resolveEndpoints(ctx, g, o)
	if err != nil {
		return nil, err
	}
	rep = &Report{}
	started := false
	// Restore on every way out: success (unless --no-reset), failure,
	// Ctrl-C.
	defer func() { err = restore(ctx, g, o, rep, orig, started, err) }()

	if o.CheckEndpoints {
		if err := checkEndpoints(ctx, g, t, o, rep, bad, goods); err != nil {
			return rep, err
		}
	}
	// git bisect start remembers what is checked out, to return to it.
	if _, err := g.Git(ctx, "checkout", "-q", orig); err != nil {
		return rep, err
	}
	args := append([]string{"bisect", "start", bad}, goods...)
	out, err := g.Git(ctx, args...)
	started = true
	if err != nil {
		return rep, fmt.Errorf("git bisect start: %w", err)
	}
	if err := loop(ctx, g, t, o, rep, out); err != nil || rep.Culprit == "" {
		return rep, err
	}
	finish(ctx, g, t, o, rep, bad)
	return rep, nil
}

// resolveEndpoints refuses to start where a bisect cannot run cleanly (one
// already in progress, uncommitted changes that checkouts would carry
// around) and resolves what to return to and the endpoints to commit ids,
// before anything is checked out, so a refusal changes nothing.
func resolveEndpoints(ctx context.Context, g Git, o Options) (orig, bad string, goods []string, err error) {
	if p, err := g.Git(ctx, "rev-parse", "--path-format=absolute", "--git-path", "BISECT_START"); err == nil && statExists(p) {
		return "", "", nil, errors.New("a bisect is already in progress here: finish it or run 'git bisect reset' first")
	}
	if err := vmrun.CheckClean(ctx, g); err != nil {
		return "", "", nil, fmt.Errorf("%w: commit or stash them first (bisect checks out other commits)", err)
	}
	// A branch name when on one, so the restore does not leave a detached
	// HEAD behind.
	orig, err = g.Git(ctx, "symbolic-ref", "-q", "--short", "HEAD")
	if err != nil || orig == "" {
		if orig, err = g.Git(ctx, "rev-parse", "HEAD"); err != nil {
			return "", "", nil, err
		}
	}
	bad, err = g.Git(ctx, "rev-parse", "--verify", o.Bad+"^{commit}")
	if err != nil {
		return "", "", nil, fmt.Errorf("bad revision %q: %w", o.Bad, err)
	}
	for _, gd := range o.Good {
		id, err := g.Git(ctx, "rev-parse", "--verify", gd+"^{commit}")
		if err != nil {
			return "", "", nil, fmt.Errorf("good revision %q: %w", gd, err)
		}
		goods = append(goods, id)
	}
	return orig, bad, goods, nil
}

// restore puts the repository back and returns the error Run returns. It
// runs even when ctx is already cancelled (Ctrl-C), so it uses a context
// without the cancellation. Once git bisect started, its log is kept in the
// report and "git bisect reset" returns to orig; before that only a
// checkout of orig is needed (the endpoint checks may have moved HEAD).
func restore(ctx context.Context, g Git, o Options, rep *Report, orig string, started bool, err error) error {
	cleanup := context.WithoutCancel(ctx)
	if started {
		if log, e := g.Git(cleanup, "bisect", "log"); e == nil {
			rep.BisectLog = log
		}
	}
	if started && o.NoReset && err == nil {
		return err
	}
	if started {
		// Back to where "git bisect start" was run: orig, which is
		// checked out again just before it.
		if _, e := g.Git(cleanup, "bisect", "reset"); e != nil && err == nil {
			err = fmt.Errorf("restore the repository: %w", e)
		}
	} else if _, e := g.Git(cleanup, "checkout", "-q", orig); e != nil && err == nil {
		err = fmt.Errorf("restore the repository: %w", e)
	}
	return err
}

// checkEndpoints tests bad and every good commit before bisecting: a
// bisect between endpoints that do not bracket a regression would blame an
// arbitrary commit, so this fails early with ErrEndpoints instead.
func checkEndpoints(ctx context.Context, g Git, t Tester, o Options, rep *Report, bad string, goods []string) error {
	test := func(commit, role string) (Step, error) {
		if _, err := g.Git(ctx, "checkout", "-q", "--detach", commit); err != nil {
			return Step{}, err
		}
		return testHere(ctx, g, t, o, commit, role)
	}
	o.Progress("checking the endpoints: %.12s should fail, %d good commit(s) should pass\n", bad, len(goods))
	st, err := test(bad, "endpoint-bad")
	if err != nil {
		return err
	}
	rep.add(st)
	if st.Mark == Abort {
		return fmt.Errorf("cannot test %.12s: %s", bad, st.Reason)
	}
	if st.Mark != Bad {
		return fmt.Errorf("%w: the bad commit %.12s %s (%s)", ErrEndpoints, bad, describe(st), st.Reason)
	}
	for _, gd := range goods {
		st, err := test(gd, "endpoint-good")
		if err != nil {
			return err
		}
		rep.add(st)
		if st.Mark != Good {
			return fmt.Errorf("%w: the good commit %.12s %s (%s)", ErrEndpoints, gd, describe(st), st.Reason)
		}
	}
	return nil
}

// loop tests the commit git bisect checked out and marks it, until git's
// output (out, from the last bisect command) names the first bad commit
// (rep.Culprit) or only skipped commits are left (rep.Candidates). An
// Abort stops without marking: marking a commit that could not be tested
// would steer the bisect on a guess.
func loop(ctx context.Context, g Git, t Tester, o Options, rep *Report, out string) error {
	for {
		if m := firstBadRe.FindStringSubmatch(out); m != nil {
			rep.Culprit = m[1]
			return nil
		}
		if m := skippedRe.FindStringSubmatch(out); m != nil {
			rep.Candidates = shaRe.FindAllString(m[1], -1)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		head, err := g.Git(ctx, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		o.Progress("%s\n", firstLine(out))
		st, err := testHere(ctx, g, t, o, head, "step")
		if err != nil {
			return err
		}
		rep.add(st)
		if st.Mark == Abort {
			return fmt.Errorf("cannot test %.12s (%s): stopping without marking it", head, st.Reason)
		}
		out, err = g.Git(ctx, "bisect", string(st.Mark))
		// git bisect exits non-zero when only skipped commits are left;
		// that message is an end, not a failure.
		if err != nil && !skippedRe.MatchString(errText(err)+out) {
			return fmt.Errorf("git bisect %s: %w", st.Mark, err)
		}
		if err != nil {
			out = errText(err) + "\n" + out
		}
	}
}

// finish describes the culprit for the report and the Fixes: line, and
// confirms it when asked. A culprit that cannot be described is still the
// culprit, so those look-ups do not fail the bisect.
func finish(ctx context.Context, g Git, t Tester, o Options, rep *Report, bad string) {
	info, err := g.Git(ctx, "show", "-s", "--format=%s%x00%an <%ae>", rep.Culprit)
	if err == nil {
		f := strings.SplitN(info, "\x00", 2)
		rep.Subject, rep.Author = f[0], f[len(f)-1]
	}
	abbrev, _ := g.Git(ctx, "rev-parse", "--short=12", rep.Culprit)
	rep.Fixes = fmt.Sprintf("Fixes: %s (\"%s\")", abbrev, rep.Subject)
	if o.Confirm {
		confirm(ctx, g, t, o, rep, bad)
	}
}

// confirm reverts the culprit on top of bad and tests that (KernelCI): a
// pass confirms the culprit.
func confirm(ctx context.Context, g Git, t Tester, o Options, rep *Report, bad string) {
	no := false
	if _, err := g.Git(ctx, "checkout", "-q", "--detach", bad); err != nil {
		rep.Confirmed, rep.ConfirmNote = &no, "could not check out the bad commit: "+err.Error()
		return
	}
	if _, err := g.Git(ctx, "revert", "--no-edit", rep.Culprit); err != nil {
		g.Git(context.WithoutCancel(ctx), "revert", "--abort")
		rep.Confirmed, rep.ConfirmNote = &no, "the revert does not apply cleanly on top of the bad commit"
		return
	}
	head, _ := g.Git(ctx, "rev-parse", "HEAD")
	st, err := testHere(ctx, g, t, o, head, "confirm")
	if err != nil {
		rep.Confirmed, rep.ConfirmNote = &no, err.Error()
		return
	}
	rep.add(st)
	ok := st.Mark == Good
	rep.Confirmed = &ok
	if ok {
		rep.ConfirmNote = "reverting the culprit on top of the bad commit passes"
	} else {
		rep.ConfirmNote = fmt.Sprintf("reverting the culprit on top of the bad commit still %s: %s", describe(st), st.Reason)
	}
}

// testHere tests the checked-out commit. Repeating a flaky test is the
// Tester's business (it runs every repeat, whatever its cache holds); the
// verdict it returns says how many runs it took.
func testHere(ctx context.Context, g Git, t Tester, o Options, commit, role string) (Step, error) {
	st := Step{Commit: commit, Role: role}
	st.Subject, _ = g.Git(ctx, "show", "-s", "--format=%s", commit)
	v, cached, err := t.Test(ctx)
	if err != nil {
		return st, err
	}
	st.Runs, st.Cached, st.Duration = max(v.Runs, 1), cached, v.Duration
	st.Status, st.Reason, st.Excerpt, st.LogDir, st.Timings = v.Status, v.Reason, v.Excerpt, v.LogDir, v.Timings
	st.Mark = Classify(st.Status, o.Policy)
	return st, nil
}

func (r *Report) add(s Step) {
	r.Steps = append(r.Steps, s)
	if !s.Cached {
		r.Builds++
	}
}

func describe(s Step) string {
	switch s.Status {
	case vmrun.Pass:
		return "passes"
	case vmrun.BuildFail:
		return "does not build"
	}
	return string(s.Status) + "s"
}

func firstLine(s string) string { l, _, _ := strings.Cut(strings.TrimSpace(s), "\n"); return l }

func errText(err error) string { return err.Error() }
