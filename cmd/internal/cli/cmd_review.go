package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/rebase"
	"github.com/git-rapido/git-rapido/trailers/attest"
)

func init() {
	Register(func() *Command {
		var ack, noVerify bool
		return &Command{
			Name:     "review",
			Synopsis: []string{"review [--ack] [--no-verify]"},
			Short:    "add Reviewed-by: (or Acked-by:) for you to HEAD",
			Long: `Adds "Reviewed-by: <you>" (with --ack, "Acked-by: <you>") to HEAD's message,
exactly as git interpret-trailers would, and amends HEAD as "git rapido test"
does. It replaces the classic review recipe in a rebase todo
("exec GIT_EDITOR='git rb' git commit --amend"): "git rapido rebase --review
<upstream>" puts "exec git rapido review" after every pick.`,
			Sections: []Section{{"CONFIGURATION", keyLines("rapido.reviewedBy", "rapido.ackedBy")}},
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVar(&ack, "ack", false, "add Acked-by: instead of Reviewed-by:")
				fs.BoolVar(&noVerify, "no-verify", false, "do not run the pre-commit and commit-msg hooks")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if len(args) > 0 {
					return Usagef("unexpected argument %q", args[0])
				}
				key, cfgKey, verdict := "Reviewed-by", "rapido.reviewedBy", "reviewed"
				if ack {
					key, cfgKey, verdict = "Acked-by", "rapido.ackedBy", "acked"
				}
				value, err := identity(ctx, env, cfgKey)
				if err != nil {
					return err
				}
				return amendWithTrailer(ctx, env, key, value, &verdictInfo{Verdict: verdict}, noVerify, "rapido review")
			},
		}
	})
	Register(func() *Command {
		var noVerify bool
		return &Command{
			Name:     "trailer",
			Synopsis: []string{"trailer add [--no-verify] <key>[: <value>]"},
			Short:    "add any trailer to HEAD (value defaults to your identity)",
			Long: `Adds one trailer to HEAD's message, exactly as git interpret-trailers would
(trailer.* configuration applies), and amends HEAD as "git rapido test" does.
With only a key, the value is your "user.name <user.email>":

    git rapido trailer add "TODO-jd: squash with prior"
    git rapido trailer add Suggested-by`,
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVar(&noVerify, "no-verify", false, "do not run the pre-commit and commit-msg hooks")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if len(args) != 2 || args[0] != "add" {
					return Usagef("want: git rapido trailer add <key>[: <value>]")
				}
				key, value, ok := strings.Cut(args[1], ":")
				if !ok {
					key, value, _ = strings.Cut(args[1], "=")
				}
				key, value = strings.TrimSpace(key), strings.TrimSpace(value)
				if err := attest.CheckTrailerKey(key); err != nil {
					return Usagef("%v", err)
				}
				if value == "" {
					var err error
					if value, err = identity(ctx, env, ""); err != nil {
						return err
					}
				}
				return amendWithTrailer(ctx, env, key, value, nil, noVerify, "rapido trailer")
			},
		}
	})
}

func amendWithTrailer(ctx context.Context, env *Env, key, value string, info *verdictInfo, noVerify bool, action string) error {
	if err := amendPreflight(ctx, env, strings.TrimPrefix(action, "rapido "), "commit or stash the changes first", rebase.PreflightOptions{}); err != nil {
		return err
	}
	commit, err := env.Runner.Git(ctx, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return fmt.Errorf("read HEAD: %w", err)
	}
	res, err := addTrailer(ctx, env, commit, key, value, info, noVerify, action)
	if err != nil {
		return err
	}
	if res.New == res.Old {
		fmt.Fprintf(env.Stderr, "rapido: %.12s already carries %s: %s\n", commit, key, termsafe.Escape(value))
		return nil
	}
	fmt.Fprintf(env.Stderr, "rapido: %.12s -> %.12s %s: %s\n", res.Old, res.New, key, termsafe.Escape(value))
	return nil
}
