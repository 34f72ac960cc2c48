package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/bisect"
	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/vmrun"
)

type bisectOptions struct {
	test        testFlags
	buildFail   string
	hang        string
	repeat      int
	noEndpoints bool
	confirm     bool
	noReset     bool
	asJSON      bool
}

func init() {
	Register(func() *Command {
		o := &bisectOptions{}
		return &Command{
			Name:      "bisect",
			Synopsis:  []string{"bisect [<test options>] [--repeat <n>] [--build-fail=skip|bad] [--hang=bad|skip] [--confirm] [--no-reset] [--json] <bad> <good>... [-- <cmd>...]"},
			Short:     "find the commit that broke the test, building and booting each step",
			UsageExit: 128,
			Long: `Runs git's own bisect between <bad> and the <good> commits, testing each step
as "git rapido run" does, to the end, and prints the first bad commit with a
"Fixes:" line ready to paste, a table of the steps, the culprit's failure
excerpt and where the logs are.

Each step is classified as kernel bisectors do: a pass is good; a test
failure or a kernel crash is bad; a commit that does not build is skipped
(--build-fail=bad when the build break is what you hunt); a hang is bad
(--hang=skip to skip it); trouble with the machine (QEMU missing...) stops
the bisect without marking the commit.

Before starting, the endpoints are checked: bad must fail and every good
must pass (--no-check-endpoints to trust them). --repeat N runs every step N
times whatever the verdict cache holds and calls it bad if any run fails,
for flaky tests. --confirm reverts
the culprit on top of <bad> and tests that too.

Steps whose tree already has a trusted verdict for the same test come
from the verdict cache and cost no build or boot; a repeated bisect is
nearly free.
No trailers are added. The repository is left as it was found (original
branch checked out, bisect reset) — also on failure or Ctrl-C — unless
--no-reset, which keeps git's bisect state for "git bisect log".

Plain "git bisect run git rapido test --no-trailer [-- <cmd>]" works too,
through the exit codes below.`,
			Sections: []Section{{"EXIT STATUS", `0   the culprit was found (or, with only skipped commits left, the candidates listed)
1   the endpoints do not bracket a regression
128 the bisect could not run (usage, infrastructure)
130 interrupted by Ctrl-C, SIGTERM, SIGHUP or a lost output reader (the repository is restored)`}},
			Flags: func(fs *pflag.FlagSet) {
				o.test.Register(fs)
				fs.StringVar(&o.buildFail, "build-fail", "skip", "what a build failure means: `skip` or bad")
				fs.StringVar(&o.hang, "hang", "bad", "what a boot hang means: `bad` or skip")
				fs.IntVar(&o.repeat, "repeat", 1, "test every step `n` times; any failure is bad")
				fs.BoolVar(&o.noEndpoints, "no-check-endpoints", false, "do not check first that bad fails and good passes")
				fs.BoolVar(&o.confirm, "confirm", false, "revert the culprit on top of bad and check that the revert passes")
				fs.BoolVar(&o.noReset, "no-reset", false, "leave the bisect state and the culprit checked out")
				fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runBisect(ctx, env, o, args)
			},
		}
	})
}

// stepTester tests each bisect step through the domain's Tester, repeating
// the test when asked whatever the cache holds.
type stepTester struct {
	env    *Env
	tester *vmrun.Tester
	spec   *vmrun.Spec
	repeat int
}

func (t stepTester) Test(ctx context.Context) (*vmrun.Verdict, bool, error) {
	if head, err := t.env.Runner.Git(ctx, "rev-parse", "--short=12", "HEAD"); err == nil {
		t.spec.Label = head
	}
	// bisect refused a dirty worktree at its start and checks out every
	// step itself: no git status over the tree for each step.
	r, err := t.tester.Test(ctx, t.spec, vmrun.TestOptions{Repeat: t.repeat, KnownClean: true})
	if err != nil {
		return nil, false, err
	}
	return r.Verdict, r.Cached, nil
}

func runBisect(ctx context.Context, env *Env, o *bisectOptions, args []string) error {
	revs := args
	if env.DashAt >= 0 {
		revs = args[:env.DashAt]
	}
	if len(revs) < 2 {
		return Usagef("want <bad> and at least one <good>")
	}
	if o.buildFail != "skip" && o.buildFail != "bad" {
		return Usagef("--build-fail: want skip or bad")
	}
	if o.hang != "bad" && o.hang != "skip" {
		return Usagef("--hang: want bad or skip")
	}
	if o.repeat < 1 {
		return Usagef("--repeat: want a positive count")
	}
	// The test spec takes only what follows "--".
	rest := args[len(revs):]
	savedDash := env.DashAt
	env.DashAt = 0
	if savedDash < 0 {
		env.DashAt = -1
	}
	spec, err := o.test.Spec(ctx, env, rest)
	env.DashAt = savedDash
	if err != nil {
		return asCannotTest(err)
	}
	tester, err := newTester(ctx, env, o.test.host(env))
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	rep, err := bisect.Run(ctx, env.Runner, stepTester{env, tester, spec, o.repeat}, bisect.Options{
		Bad: revs[0], Good: revs[1:],
		Policy:         bisect.Policy{BuildFailBad: o.buildFail == "bad", HangSkip: o.hang == "skip"},
		CheckEndpoints: !o.noEndpoints,
		Confirm:        o.confirm,
		NoReset:        o.noReset,
		Progress:       func(f string, a ...any) { fmt.Fprint(env.Stderr, "bisect: "+termsafe.Line(fmt.Sprintf(f, a...))) },
	})
	if rep != nil {
		if o.asJSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintln(env.Stdout, string(b))
		} else {
			p, perr := newPainter(ctx, env)
			if perr != nil {
				return perr
			}
			printBisect(env, p, rep)
		}
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case strings.Contains(err.Error(), bisect.ErrEndpoints.Error()):
		return &ExitError{Code: 1, Err: err}
	}
	return &ExitError{Code: 128, Err: err}
}

func printBisect(env *Env, p painter, rep *bisect.Report) {
	w := env.Stdout
	if len(rep.Steps) > 0 {
		fmt.Fprintf(w, "%-12s  %-14s %-10s %-6s %8s %8s %8s  %s\n", "commit", "role", "verdict", "cached", "build", "boot", "test", "subject")
		for _, s := range rep.Steps {
			cached := "no"
			if s.Cached {
				cached = "yes"
			}
			subj := termsafe.Escape(s.Subject)
			if len(subj) > 40 {
				subj = subj[:37] + "..."
			}
			fmt.Fprintf(w, "%.12s  %-14s %s %-6s %8s %8s %8s  %s\n", s.Commit, s.Role, p.pad(string(s.Status), 10), cached,
				s.Timings.Build.Round(1e8), (s.Timings.KernelBoot + s.Timings.Init).Round(1e7), s.Timings.Test.Round(1e7), subj)
		}
		fmt.Fprintf(w, "%d step(s), %d build(s)\n\n", len(rep.Steps), rep.Builds)
	}
	switch {
	case rep.Culprit != "":
		fmt.Fprintf(w, "%s\n  %s\n  Author: %s\n\n  %s\n", p.bold("first bad commit: "+rep.Culprit), termsafe.Escape(rep.Subject), termsafe.Escape(rep.Author), termsafe.Escape(rep.Fixes))
		for _, s := range rep.Steps {
			if s.Commit == rep.Culprit && s.Status != vmrun.Pass {
				fmt.Fprintf(w, "\n  why: %s: %s\n", s.Status, termsafe.Escape(s.Reason))
				for _, l := range s.Excerpt {
					fmt.Fprintf(w, "    %s\n", termsafe.Escape(l))
				}
				if s.LogDir != "" {
					fmt.Fprintf(w, "  logs: %s\n", s.LogDir)
				}
			}
		}
		if rep.Confirmed != nil {
			fmt.Fprintf(w, "\n  confirm: %s\n", termsafe.Escape(rep.ConfirmNote))
		}
	case len(rep.Candidates) > 0:
		fmt.Fprintln(w, "git bisect cannot continue: only commits that could not be tested (skipped) are left.")
		fmt.Fprintln(w, "The first bad commit is one of:")
		for _, c := range rep.Candidates {
			fmt.Fprintf(w, "  %s\n", termsafe.Escape(c))
		}
	}
}
