package cli

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/git-rapido/git-rapido/cmd/internal/cache"
	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
)

func init() {
	Register(func() *Command {
		return &Command{
			Name: "cache",
			Synopsis: []string{
				"cache list",
				"cache show [<commit>]",
				"cache forget <commit>...",
				"cache prune",
				"cache push <remote>",
				"cache fetch <remote>",
			},
			Short: "list, show, forget, prune and share cached verdicts",
			Long: `Verdicts are git notes on tree objects in refs/notes/rapido, one line per
test spec (the digest of the cut, test, kernel configuration and VM
settings). A rebase, reword or squash that keeps the code keeps the verdict.

list     every cached verdict: tree, spec, status, when
show     the verdicts for a commit's tree (default HEAD), and their logs
forget   drop the verdicts for the commits' trees, so they are retested
prune    drop verdicts whose trees no longer exist, and whose logs are gone
push     send refs/notes/rapido to a remote
fetch    get a remote's refs/notes/rapido and merge it into ours`,
			Run: runCache,
		}
	})
}

func runCache(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("want a subcommand: list, show, forget, prune, push or fetch")
	}
	c := &cache.Cache{Git: env.Runner}
	switch args[0] {
	case "list":
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
			for _, e := range all[t] {
				// Entries may come from anyone (cache fetch): every field is escaped.
				fmt.Fprintf(env.Stdout, "%.12s spec %.12s %-10s %s %s\n", t, termsafe.Escape(e.Spec), termsafe.Escape(string(e.Status)), e.Time.Format("2006-01-02 15:04"), termsafe.Escape(e.Reason))
			}
		}
	case "show":
		rev := "HEAD"
		if len(args) > 1 {
			rev = args[1]
		}
		tree, err := env.Runner.Git(ctx, "rev-parse", "--verify", rev+"^{tree}")
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
		for _, e := range es {
			fmt.Fprintf(env.Stdout, "tree %.12s spec %.12s: %s — %s\n  tested %s as %.12s in %s, kernel %s\n  logs: %s\n",
				tree, termsafe.Escape(e.Spec), termsafe.Escape(string(e.Status)), termsafe.Escape(e.Reason), e.Time.Format("2006-01-02 15:04:05"),
				termsafe.Escape(e.Commit), e.Duration.Round(1e8), termsafe.Escape(e.Release), termsafe.Escape(e.LogDir))
		}
	case "forget":
		if len(args) < 2 {
			return Usagef("want one or more commits")
		}
		for _, rev := range args[1:] {
			tree, err := env.Runner.Git(ctx, "rev-parse", "--verify", rev+"^{tree}")
			if err != nil {
				return fmt.Errorf("cache forget: %w", err)
			}
			n, err := c.Forget(ctx, tree, "")
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stderr, "forgot %d verdict(s) for %s\n", n, rev)
		}
	case "prune":
		all, err := c.List(ctx)
		if err != nil {
			return err
		}
		n := 0
		for tree, es := range all {
			gone := 0
			for _, e := range es {
				if e.LogDir != "" {
					if _, err := os.Stat(e.LogDir); err != nil {
						gone++
					}
				}
			}
			if gone == len(es) && gone > 0 {
				if _, err := c.Forget(ctx, tree, ""); err != nil {
					return err
				}
				n++
			}
		}
		// Notes on objects that no longer exist.
		if _, err := env.Runner.Git(ctx, "notes", "--ref="+cache.Ref, "prune"); err != nil && !strings.Contains(err.Error(), "does not exist") {
			return fmt.Errorf("cache prune: %w", err)
		}
		fmt.Fprintf(env.Stderr, "pruned %d tree(s) whose logs are gone, and notes of missing trees\n", n)
	case "push", "fetch":
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
		if out != "" {
			fmt.Fprintln(env.Stderr, out)
		}
		if err != nil {
			return fmt.Errorf("cache %s: %w", args[0], err)
		}
	default:
		return Usagef("unknown subcommand %q", args[0])
	}
	return nil
}
