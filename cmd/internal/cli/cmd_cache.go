package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/vmrun/cache"
)

func init() {
	Register(func() *Command {
		var dryRun bool
		return &Command{
			Name: "cache",
			Synopsis: []string{
				"cache list",
				"cache show [<commit>]",
				"cache forget <commit>...",
				"cache prune [--dry-run]",
				"cache push <remote>",
				"cache fetch <remote>",
			},
			Short: "list, show, forget, prune and share cached verdicts",
			Long: `Verdicts are git notes on tree objects in refs/notes/rapido, one line per
verdict: the test spec (the digest of the cut, test, kernel configuration and
VM settings), the verdict, and who made it where (user.email, a machine id,
the git rapido version), sealed as your own and, with rapido.signingKey,
signed. A rebase, reword or squash that keeps the code keeps the verdict.

Only your own verdicts (made by you on this machine) and verdicts signed by a
key in rapido.trustedKeys or rapido.keyringRef answer a test; the others are
listed as untrusted and never used. Trusted verdicts for one tree and spec
that disagree make it "flaky": it is tested again.

list     every cached verdict: tree, spec, status, trust, when
show     the verdicts for a commit's tree (default HEAD), who made them, their logs
forget   drop the verdicts for the commits' trees, so they are retested
prune    drop the verdicts made by you on this machine whose logs are gone
         (one line each; --dry-run only lists them); never other people's
push     send refs/notes/rapido (and refs/notes/rapido-attest) to a remote
fetch    get a remote's refs/notes/rapido and merge it into ours (every
         line of both sides is kept; refs/notes/rapido-attest too)`,
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVarP(&dryRun, "dry-run", "n", false, "prune: only list what would be removed")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runCache(ctx, env, args, dryRun)
			},
		}
	})
}

func runCache(ctx context.Context, env *Env, args []string, dryRun bool) error {
	if len(args) == 0 {
		return Usagef("want a subcommand: list, show, forget, prune, push or fetch")
	}
	if dryRun && args[0] != "prune" {
		return Usagef("--dry-run goes with prune")
	}
	c := &cache.Cache{Git: cliGit{env.Runner}}
	switch args[0] {
	case "list", "show", "prune":
		policy, err := trustPolicy(ctx, env)
		if err != nil {
			return err
		}
		switch args[0] {
		case "list":
			return cacheList(ctx, env, c, policy)
		case "show":
			return cacheShow(ctx, env, c, policy, args[1:])
		}
		return cachePrune(ctx, env, c, policy, dryRun)
	case "forget":
		return cacheForget(ctx, env, c, args[1:])
	case "push", "fetch":
		return cacheShare(ctx, env, c, args)
	}
	return Usagef("unknown subcommand %q", args[0])
}

// trustLabel is how list, show and log name an entry's trust.
func trustLabel(j cache.Judged) string {
	switch j.Trust {
	case cache.Signed:
		return "signed by " + termsafe.Escape(j.Signer)
	case cache.Own:
		return "own"
	}
	return "untrusted"
}

// statusLabel is the status, with "k/N" for a repeated test.
func statusLabel(e cache.Entry) string {
	if e.RunCount() > 1 {
		return fmt.Sprintf("%s %d/%d", termsafe.Escape(e.Status), e.Passed, e.RunCount())
	}
	return termsafe.Escape(e.Status)
}

func cacheList(ctx context.Context, env *Env, c *cache.Cache, p cache.Policy) error {
	all, err := c.List(ctx)
	if err != nil {
		return err
	}
	trees := make([]string, 0, len(all))
	for t := range all {
		trees = append(trees, t)
	}
	sort.Strings(trees)
	for _, t := range trees {
		js := p.ClassifyAll(t, all[t])
		for _, j := range js {
			trust := trustLabel(j)
			if j.Trust != cache.Untrusted && cache.Decide(js, j.Spec).Outcome == cache.Flaky {
				trust += ", flaky"
			}
			fmt.Fprintf(env.Stdout, "%.12s spec %.12s %-10s %s %s [%s] %s\n", t, termsafe.Escape(j.Spec), statusLabel(j.Entry),
				j.Time.Format("2006-01-02 15:04"), termsafe.Escape(orDash(j.By)), trust, termsafe.Escape(j.Reason))
		}
	}
	return nil
}

func cacheShow(ctx context.Context, env *Env, c *cache.Cache, p cache.Policy, args []string) error {
	rev := "HEAD"
	if len(args) > 0 {
		rev = args[0]
	}
	tree, err := env.Runner.Git(ctx, "rev-parse", "--verify", "--end-of-options", rev+"^{tree}")
	if err != nil {
		return fmt.Errorf("cache show: %w", err)
	}
	es, err := c.Get(ctx, tree)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		fmt.Fprintf(env.Stdout, "tree %.12s (%s): untested\n", tree, rev)
		return nil
	}
	for _, j := range p.ClassifyAll(tree, es) {
		trust := trustLabel(j)
		if j.Why != "" {
			trust += ": " + termsafe.Escape(j.Why)
		}
		fmt.Fprintf(env.Stdout, "tree %.12s spec %.12s: %s — %s\n  tested %s as %.12s in %s, kernel %s\n  by %s on machine %s with git rapido %s [%s]\n  logs: %s\n",
			tree, termsafe.Escape(j.Spec), statusLabel(j.Entry), termsafe.Escape(j.Reason), j.Time.Format("2006-01-02 15:04:05"), termsafe.Escape(j.Commit),
			j.Duration.Round(1e8), termsafe.Escape(j.Release), termsafe.Escape(orDash(j.By)), termsafe.Escape(orDash(j.Machine)),
			termsafe.Escape(orDash(j.Tool)), trust, termsafe.Escape(j.LogDir))
	}
	return nil
}

func cacheForget(ctx context.Context, env *Env, c *cache.Cache, revs []string) error {
	if len(revs) == 0 {
		return Usagef("want one or more commits")
	}
	for _, rev := range revs {
		tree, err := env.Runner.Git(ctx, "rev-parse", "--verify", "--end-of-options", rev+"^{tree}")
		if err != nil {
			return fmt.Errorf("cache forget: %w", err)
		}
		n, err := c.Forget(ctx, tree, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "forgot %d verdict(s) for %s\n", n, rev)
	}
	return nil
}

func cachePrune(ctx context.Context, env *Env, c *cache.Cache, p cache.Policy, dryRun bool) error {
	pruned, err := c.Prune(ctx, p.Local, dryRun)
	verb := "pruned"
	if dryRun {
		verb = "would prune"
	}
	for _, x := range pruned {
		fmt.Fprintf(env.Stdout, "%s tree %.12s spec %.12s %s %s (logs gone: %s)\n", verb, x.Tree, termsafe.Escape(x.Entry.Spec),
			termsafe.Escape(x.Entry.Status), x.Entry.Time.Format("2006-01-02 15:04"), termsafe.Escape(x.Entry.LogDir))
	}
	if err != nil {
		return fmt.Errorf("cache prune: %w", err)
	}
	fmt.Fprintf(env.Stderr, "%s %d verdict(s) made by %s on this machine whose logs are gone; other people's are kept\n",
		verb, len(pruned), orDash(p.Local.By))
	return nil
}

func cacheShare(ctx context.Context, env *Env, c *cache.Cache, args []string) error {
	if len(args) != 2 {
		return Usagef("want: git rapido cache %s <remote>", args[0])
	}
	var out string
	var err error
	if args[0] == "push" {
		out, err = c.Push(ctx, args[1])
	} else {
		out, err = c.Fetch(ctx, args[1])
	}
	if errors.Is(err, cache.ErrBadRemote) {
		return &ExitError{Code: 128, Err: fmt.Errorf("cache %s: %w", args[0], err),
			Hint: "name a remote (git remote -v) or a URL"}
	}
	if err == nil {
		// The attestation notes (rapido.attest=notes) travel with the cache.
		var more string
		more, err = syncAttestNotes(ctx, env, args[0], args[1])
		out = strings.TrimSpace(out + "\n" + more)
	}
	if out != "" {
		fmt.Fprintln(env.Stderr, out)
	}
	if err != nil {
		return fmt.Errorf("cache %s: %w", args[0], err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
