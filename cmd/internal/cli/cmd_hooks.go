package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/hooks"
	"github.com/git-rapido/git-rapido/trailers/attest"
)

var policySection = `rapido.policy.require   "<trailer key>[:<ref glob>]": every commit pushed to a
                        matching ref must carry that verdict, signed and ok
                        (multi-valued; e.g. Tested-by:refs/heads/master)
rapido.policy.allow     statuses let through besides ok, comma-separated
                        (default: ` + keyDefault("rapido.policy.allow") + `; set it empty to allow none)
rapido.trustedKeys, rapido.keyringRef   the trusted keys, as for verify`

func init() {
	Register(func() *Command {
		var prePush, postRewrite, preReceive bool
		return &Command{
			Name:     "hooks",
			Synopsis: []string{"hooks install [--pre-push] [--post-rewrite] [--pre-receive]", "hooks uninstall", "hooks status"},
			Short:    "install git hooks that enforce signed verdicts",
			Long: `Installs thin hook scripts that run "git rapido hook <name>" in the hooks
directory git uses (core.hooksPath is honoured). Without options, install
puts pre-push and post-rewrite in a repository with a work tree, and
pre-receive in a bare one.

An existing hook is never overwritten: it is kept as <name>.rapido-chained
and run after git rapido's check, with the same arguments and input;
uninstall puts it back.

pre-push refuses to push commits whose verdicts are stale, forged
(bad-signature, malformed) or signed by unknown keys, or that lack a
verdict the policy requires for the ref. pre-receive applies the same
policy on a shared repository, with the trusted keys of that repository's
own configuration. post-rewrite warns when an amend or rebase left a signed
verdict stale (verdict notes are keyed by tree, so they follow rewrites
that keep the code by themselves).`,
			Sections: []Section{{"CONFIGURATION", policySection}},
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVar(&prePush, "pre-push", false, "install the pre-push hook")
				fs.BoolVar(&postRewrite, "post-rewrite", false, "install the post-rewrite hook")
				fs.BoolVar(&preReceive, "pre-receive", false, "install the pre-receive hook (shared repositories)")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if len(args) != 1 {
					return Usagef("want: git rapido hooks install|uninstall|status")
				}
				dir, err := hooksDir(ctx, env)
				if err != nil {
					return err
				}
				switch args[0] {
				case "install":
					var names []string
					if prePush {
						names = append(names, "pre-push")
					}
					if postRewrite {
						names = append(names, "post-rewrite")
					}
					if preReceive {
						names = append(names, "pre-receive")
					}
					if len(names) == 0 {
						if bare, _ := env.Runner.Git(ctx, "rev-parse", "--is-bare-repository"); bare == "true" {
							names = []string{"pre-receive"}
						} else {
							names = []string{"pre-push", "post-rewrite"}
						}
					}
					for _, n := range names {
						chained, err := hooks.Install(dir, n)
						if err != nil {
							return err
						}
						if chained {
							fmt.Fprintf(env.Stderr, "rapido: installed %s; your hook is kept as %s and still runs\n", filepath.Join(dir, n), n+hooks.ChainSuffix)
						} else {
							fmt.Fprintf(env.Stderr, "rapido: installed %s\n", filepath.Join(dir, n))
						}
					}
				case "uninstall":
					for _, n := range hooks.Names {
						st := hooks.Status(dir, n)
						restored, err := hooks.Uninstall(dir, n)
						if err != nil {
							return err
						}
						if st == hooks.Installed || st == hooks.Chained {
							msg := "removed " + filepath.Join(dir, n)
							if restored {
								msg += "; your hook is back"
							}
							fmt.Fprintf(env.Stderr, "rapido: %s\n", msg)
						}
					}
				case "status":
					for _, n := range hooks.Names {
						fmt.Fprintf(env.Stdout, "%-13s %s\n", n, hooks.Status(dir, n))
					}
				default:
					return Usagef("unknown hooks subcommand %q", args[0])
				}
				return nil
			},
		}
	})
	Register(func() *Command {
		return &Command{
			Name:     "hook",
			Synopsis: []string{"hook <name> [<hook argument>...]"},
			Short:    "run git rapido's check for a git hook (called by the installed hooks)",
			Long:     `Plumbing for the scripts "git rapido hooks install" writes.`,
			Hidden:   true,
			Sections: []Section{{"CONFIGURATION", policySection}},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if len(args) == 0 {
					return Usagef("want: git rapido hook <name> [<args>...]")
				}
				return runHook(ctx, env, args[0], args[1:])
			},
		}
	})
}

// hooksDir is the directory git runs hooks from, core.hooksPath honoured.
func hooksDir(ctx context.Context, env *Env) (string, error) {
	dir, err := env.Runner.Git(ctx, "rev-parse", "--git-path", "hooks")
	if err != nil {
		return "", fmt.Errorf("find hooks directory: %w", err)
	}
	if !filepath.IsAbs(dir) {
		base := env.Runner.Dir
		if base == "" {
			base, _ = os.Getwd()
		}
		dir = filepath.Join(base, dir)
	}
	return dir, nil
}

func readPolicy(ctx context.Context, env *Env) (*hooks.Policy, error) {
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	p := &hooks.Policy{}
	v, ok := cfg.Get("rapido.policy.allow")
	if !ok {
		v = keyDefault("rapido.policy.allow")
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !knownStatus(s) {
			return nil, fmt.Errorf("rapido.policy.allow: unknown status %q (want one of %s)", s, statusList())
		}
		p.Allow = append(p.Allow, s)
	}
	for _, v := range cfg.All("rapido.policy.require") {
		r, err := hooks.ParseRule(v)
		if err != nil {
			return nil, fmt.Errorf("rapido.policy.require: %w", err)
		}
		p.Require = append(p.Require, r)
	}
	return p, nil
}

func runHook(ctx context.Context, env *Env, name string, args []string) error {
	in, err := io.ReadAll(env.Stdin)
	if err != nil {
		return fmt.Errorf("hook %s: read input: %w", name, err)
	}
	var checkErr error
	switch name {
	case "pre-push":
		remote := ""
		if len(args) > 0 {
			remote = args[0]
		}
		us, err := hooks.ParsePrePush(bytes.NewReader(in))
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		// What the remote already has: its remote-tracking refs, or every
		// remote-tracking ref when the push goes to a URL.
		exclude := []string{"--remotes"}
		if remote != "" && !strings.Contains(remote, "/") && !strings.Contains(remote, ":") {
			exclude = []string{"--remotes=" + remote}
		}
		checkErr = enforce(ctx, env, "push", us, exclude)
	case "pre-receive":
		us, err := hooks.ParsePreReceive(bytes.NewReader(in))
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		checkErr = enforce(ctx, env, "push", us, []string{"--all"})
	case "post-rewrite":
		postRewrite(ctx, env, in)
	default:
		return Usagef("unknown hook %q (want one of %s)", name, strings.Join(hooks.Names, ", "))
	}
	if checkErr != nil {
		return checkErr
	}
	dir, err := hooksDir(ctx, env)
	if err != nil {
		return err
	}
	if chained := hooks.ChainedHook(dir, name); chained != "" {
		cmd := env.Runner.Command(ctx, chained, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), env.Stdout, env.Stderr
		if err := env.Runner.Run(cmd); err != nil {
			code := gitexec.ExitCode(err)
			if code <= 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("hook %s: %w", name, err)}
			}
			return &ExitError{Code: code}
		}
	}
	return nil
}

// enforce verifies the commits each update brings and refuses the push
// when the policy is not met.
func enforce(ctx context.Context, env *Env, what string, us []hooks.Update, exclude []string) error {
	policy, err := readPolicy(ctx, env)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	kr, err := loadKeyring(ctx, env)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	var violations []hooks.Violation
	for _, u := range us {
		commits, err := hooks.NewCommits(ctx, env.Runner, u, exclude...)
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		if len(commits) == 0 {
			continue
		}
		cs, err := verifyRevs(ctx, env, kr, []string{"--no-walk=unsorted"}, []byte(strings.Join(commits, "\n")+"\n"))
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		verdicts := map[string][]hooks.Verdict{}
		for _, c := range cs {
			for _, v := range c.Verdicts {
				k, val, _ := strings.Cut(v.Trailer, ": ")
				verdicts[c.Commit] = append(verdicts[c.Commit], hooks.Verdict{Key: k, Value: val, Status: string(v.Status), Reason: v.Reason})
			}
		}
		violations = append(violations, policy.Check(u.Ref, commits, verdicts)...)
	}
	if len(violations) == 0 {
		return nil
	}
	for _, v := range violations {
		fmt.Fprintf(env.Stderr, "rapido: %s\n", termsafe.Escape(fmt.Sprint(v)))
	}
	return &ExitError{Code: 1, Err: fmt.Errorf("refusing the %s: %d %s of the verdict policy", what, len(violations), plural(len(violations), "violation")),
		Hint: "retest with git rapido test (or review again), then push again; git rapido verify shows every verdict"}
}

// postRewrite warns about signed verdicts that a rewrite left stale. It
// never fails: git ignores post-rewrite's status anyway.
func postRewrite(ctx context.Context, env *Env, in []byte) {
	pairs, err := hooks.ParseRewrites(bytes.NewReader(in))
	if err != nil || len(pairs) == 0 {
		return
	}
	var news []string
	for _, p := range pairs {
		news = append(news, p[1])
	}
	kr, err := loadKeyring(ctx, env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rapido: post-rewrite: %v\n", err)
		return
	}
	cs, err := verifyRevs(ctx, env, kr, []string{"--no-walk=unsorted"}, []byte(strings.Join(news, "\n")+"\n"))
	if err != nil {
		fmt.Fprintf(env.Stderr, "rapido: post-rewrite: %v\n", err)
		return
	}
	for _, c := range cs {
		for _, v := range c.Verdicts {
			if v.Status == attest.Stale {
				fmt.Fprintf(env.Stderr, "rapido: %.12s %s is now stale: %s\n", c.Commit, termsafe.Escape(v.Trailer), termsafe.Escape(v.Reason))
			}
		}
	}
}
