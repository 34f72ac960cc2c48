package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/trailers"
	"github.com/git-rapido/git-rapido/vmrun/cache"
)

type logEntry struct {
	Commit   string        `json:"commit"`
	Tree     string        `json:"tree"`
	Subject  string        `json:"subject"`
	Verdict  string        `json:"verdict"`          // pass, fail, crash, hang, build-fail, flaky, untrusted, untested
	Source   string        `json:"source,omitempty"` // fresh: tested as this commit; cached: same tree tested as another commit
	Trust    string        `json:"trust,omitempty"`  // own, signed by <who>, untrusted
	Reason   string        `json:"reason,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Trailers []string      `json:"trailers"`
}

func init() {
	Register(func() *Command {
		var asJSON bool
		var max int
		return &Command{
			Name:     "log",
			Synopsis: []string{"log [--json] [-n <count>] [<revision range>]"},
			Short:    "show the verdict and trailers of each commit in a range",
			Long: `One line per commit: short hash, subject, verdict (pass, fail, crash, hang,
build-fail, flaky, untrusted or untested) from the verdict cache, counting
only trusted verdicts (your own, or signed by a trusted key), whether it was tested as this
very change on the same parents ("fresh") or found by its tree after the
history around it changed ("cached"), how long the test took,
and which trailer keys the commit carries. The range defaults to
@{upstream}..HEAD, or the last 20 commits without an upstream. It costs a
fixed number of git calls whatever the length of the range.`,
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVar(&asJSON, "json", false, "print a JSON array for scripts")
				fs.IntVarP(&max, "max-count", "n", 0, "show at most `count` commits")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runLog(ctx, env, args, asJSON, max)
			},
		}
	})
}

// logVerdict fills in a commit's verdict from its tree's entries, as the
// cache summarises them.
func logVerdict(e *logEntry, js []cache.Judged, parents string) {
	sum := cache.Summarize(js, e.Commit, parents)
	e.Verdict, e.Reason, e.Duration, e.Source = termsafe.Escape(sum.Verdict), termsafe.Escape(sum.Reason), sum.Duration, sum.Source
	e.Trust = "untrusted"
	if sum.Entry != nil {
		e.Trust = trustLabel(*sum.Entry)
	}
}

func runLog(ctx context.Context, env *Env, args []string, asJSON bool, max int) error {
	logArgs := []string{"log", "-z", "--format=%H%x1f%T%x1f%P%x1f%B"}
	switch {
	case len(args) > 0:
		logArgs = append(logArgs, args...)
	default:
		if _, err := env.Runner.Git(ctx, "rev-parse", "--verify", "-q", "@{upstream}"); err == nil {
			logArgs = append(logArgs, "@{upstream}..HEAD")
		} else {
			logArgs = append(logArgs, "-n", "20", "HEAD")
		}
	}
	if max > 0 {
		logArgs = append(logArgs, fmt.Sprintf("--max-count=%d", max))
	}
	out, err := env.Runner.Output(ctx, "git", logArgs...)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	verdicts, err := (&cache.Cache{Git: cliGit{env.Runner}}).List(ctx)
	if err != nil {
		return err
	}
	policy, err := trustPolicy(ctx, env)
	if err != nil {
		return err
	}
	tcfg, err := trailerConfig(ctx, env)
	if err != nil {
		return err
	}
	var entries []logEntry
	for _, rec := range strings.Split(string(out), "\x00") {
		f := strings.SplitN(strings.TrimPrefix(rec, "\n"), "\x1f", 4)
		if len(f) != 4 {
			continue
		}
		parents := f[2]
		f = append(f[:2], f[3])
		e := logEntry{Commit: f[0], Tree: f[1], Verdict: "untested", Trailers: []string{}}
		e.Subject, _, _ = strings.Cut(f[2], "\n")
		seen := map[string]bool{}
		for _, t := range trailers.Parse([]byte(f[2]), tcfg).Trailers() {
			if !seen[t.Key] {
				seen[t.Key] = true
				e.Trailers = append(e.Trailers, t.Key)
			}
		}
		if es := verdicts[e.Tree]; len(es) > 0 {
			logVerdict(&e, policy.ClassifyAll(e.Tree, es), parents)
		}
		entries = append(entries, e)
	}
	if asJSON {
		b, _ := json.MarshalIndent(entries, "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
		return nil
	}
	done := startPager(ctx, env)
	defer done()
	p, err := newPainter(ctx, env)
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Fprintln(env.Stdout, logLine(e, p))
	}
	return nil
}

// logLine is one commit of "git rapido log": short hash, subject, verdict
// (coloured as git colours, when it does), duration and trailer keys, in
// columns, with no trailing blanks.
func logLine(e logEntry, p painter) string {
	subj := termsafe.Escape(e.Subject)
	if len(subj) > 50 {
		subj = subj[:47] + "..."
	}
	v := e.Verdict
	if e.Source != "" {
		v += " (" + e.Source + ")"
	}
	line := fmt.Sprintf("%.12s %-50s %s %7s  %s", e.Commit, subj, p.pad(v, 18), logDuration(e.Duration),
		termsafe.Escape(strings.Join(e.Trailers, ",")))
	return strings.TrimRight(line, " ")
}

// logDuration shows a test's time to the millisecond below a second (a
// cached boot is often a few hundred), to a tenth above.
func logDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
