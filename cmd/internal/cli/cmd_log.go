package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

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

// logVerdict fills in a commit's verdict from its tree's judged entries:
// only trusted ones count, the one made as this very commit first, else the
// latest; trusted entries of one spec that disagree make it "flaky". A tree
// with untrusted entries only is "untrusted", never their claim.
func logVerdict(e *logEntry, js []cache.Judged, parents string) {
	var trusted []cache.Judged
	for _, j := range js {
		if j.Trust != cache.Untrusted {
			trusted = append(trusted, j)
		}
	}
	if len(trusted) == 0 {
		e.Verdict, e.Trust = "untrusted", "untrusted"
		e.Reason = fmt.Sprintf("%d untrusted verdict(s), e.g. %s by %s", len(js), cacheText(js[0].Status), cacheText(orDash(js[0].By)))
		return
	}
	sort.SliceStable(trusted, func(i, j int) bool { return trusted[i].Time.After(trusted[j].Time) })
	pick, source := trusted[0], "cached"
	for _, x := range trusted {
		// Same tree and same parents: this very change was tested
		// (the commit id differs only by the trailer it got).
		if x.Commit == e.Commit || (x.Parents == parents && x.Parents != "") {
			pick, source = x, "fresh"
			break
		}
	}
	e.Verdict, e.Reason, e.Duration, e.Source, e.Trust = cacheText(pick.Status), cacheText(pick.Reason), pick.Duration, source, trustLabel(pick)
	for _, x := range trusted {
		if cache.Decide(js, x.Spec).Outcome == cache.Flaky {
			e.Verdict = "flaky"
			e.Reason = fmt.Sprintf("%s: %d of %d run(s) passed", cacheText(x.Status), x.Passed, x.RunCount())
			if !x.Flaky() {
				e.Reason = "trusted verdicts for this tree disagree"
			}
			break
		}
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
	for _, e := range entries {
		subj := e.Subject
		if len(subj) > 50 {
			subj = subj[:47] + "..."
		}
		v := e.Verdict
		if e.Source != "" {
			v += " (" + e.Source + ")"
		}
		dur := ""
		if e.Duration > 0 {
			dur = e.Duration.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(env.Stdout, "%.12s %-50s %-18s %7s  %s\n", e.Commit, subj, v, dur, strings.Join(e.Trailers, ","))
	}
	return nil
}
