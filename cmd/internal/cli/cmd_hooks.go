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

var policySection = `rapido.policy.require   "<trailer key>[:<ref glob>]": every commit a push makes
                        reachable from a matching ref must carry that verdict,
                        signed and ok, even if another ref had it already
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
own configuration, and refuses any push that updates its rapido.keyringRef.
Both refuse when the keyring's commit holds a commit the push brings: a
series cannot vouch for itself. For a ref the policy protects, every commit
the push makes reachable from it is checked, even one that another ref
already had; an annotated tag is checked by the object it points to.
post-rewrite warns when an amend or rebase left a signed verdict stale
(verdict notes are keyed by tree, so they follow rewrites that keep the code
by themselves).`,
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
		if err == nil {
			err = attest.CheckTrailerKey(r.Key)
		}
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
		checkErr = enforce(ctx, env, us, prePushSide(env, remote))
	case "pre-receive":
		us, err := hooks.ParsePreReceive(bytes.NewReader(in))
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		side := pushSide{have: []string{"--all"}, receiving: true,
			tips: func(ctx context.Context) ([]hooks.Tip, error) { return refTips(ctx, env, "", "") }}
		checkErr = enforce(ctx, env, us, side)
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

// pushSide is what a hook knows of the repository a push lands in.
type pushSide struct {
	// have are the revisions that side already has ("--all" on the server,
	// the remote-tracking refs in pre-push): commits they reach are not
	// checked again, except against a ref's own policy.
	have []string
	// tips lists that side's refs by their names there, for the refs a
	// policy protects.
	tips func(context.Context) ([]hooks.Tip, error)
	// receiving is set in pre-receive, where the updates name this
	// repository's own refs, the keyring's among them.
	receiving bool
}

// prePushSide is what pre-push knows of remote: its remote-tracking refs, or
// every remote-tracking ref when the push goes to a URL.
func prePushSide(env *Env, remote string) pushSide {
	if remote == "" || strings.ContainsAny(remote, "/:") {
		return pushSide{have: []string{"--remotes"}, tips: func(context.Context) ([]hooks.Tip, error) { return nil, nil }}
	}
	return pushSide{have: []string{"--remotes=" + remote}, tips: func(ctx context.Context) ([]hooks.Tip, error) {
		return refTips(ctx, env, "refs/remotes/"+remote, "refs/heads")
	}}
}

// refTips lists the refs under prefix ("" for all) with prefix replaced by
// rename when it is set (a remote's refs/remotes/<name>/x is its
// refs/heads/x).
func refTips(ctx context.Context, env *Env, prefix, rename string) ([]hooks.Tip, error) {
	args := []string{"for-each-ref", "--format=%(objectname) %(refname)"}
	if prefix != "" {
		args = append(args, prefix)
	}
	out, err := env.Runner.Git(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	var tips []hooks.Tip
	for _, line := range strings.Split(out, "\n") {
		id, name, ok := strings.Cut(line, " ")
		if !ok || (rename != "" && strings.HasSuffix(name, "/HEAD")) {
			continue
		}
		if rename != "" {
			name = rename + strings.TrimPrefix(name, prefix)
		}
		tips = append(tips, hooks.Tip{Name: name, ID: id})
	}
	return tips, nil
}

// refCheck is the commits the policy of ref must check, and those of them
// that are new to the receiving side.
type refCheck struct {
	ref     string
	commits []string
	fresh   []string
}

// enforce verifies the commits each update brings and refuses the push
// when the policy is not met, or when the push could choose the keys its
// own verdicts are checked with.
func enforce(ctx context.Context, env *Env, us []hooks.Update, side pushSide) error {
	policy, err := readPolicy(ctx, env)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	trust, err := loadTrust(ctx, env)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	for _, u := range us {
		if side.receiving && trust.isRef(u.Ref) {
			return &ExitError{Code: 1, Err: fmt.Errorf("refusing the push: it updates %s, the rapido.keyringRef its verdicts are checked with; update the keyring on the server itself (git fetch or git update-ref there, which run no hook)", u.Ref)}
		}
	}
	checks, violations, err := planChecks(ctx, env, policy, us, side)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	// Only what the push brings could have put keys in the keyring: commits
	// already on the receiving side are checked again for a ref's policy,
	// but not held against a keyring that contains them.
	var fresh []string
	for _, c := range checks {
		fresh = append(fresh, c.fresh...)
	}
	if err := trust.notFrom(ctx, env, fresh); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	for _, c := range checks {
		cs, err := verifyRevs(ctx, env, trust.keys, []string{"--no-walk=unsorted"}, []byte(strings.Join(c.commits, "\n")+"\n"))
		if err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		verdicts := map[string][]hooks.Verdict{}
		for _, vc := range cs {
			for _, v := range vc.Verdicts {
				k, val, _ := strings.Cut(v.Trailer, ": ")
				verdicts[vc.Commit] = append(verdicts[vc.Commit], hooks.Verdict{Key: k, Value: val, Status: string(v.Status), Reason: v.Reason})
			}
		}
		violations = append(violations, policy.Check(c.ref, c.commits, verdicts)...)
	}
	if len(violations) == 0 {
		return nil
	}
	for _, v := range violations {
		fmt.Fprintf(env.Stderr, "rapido: %s\n", termsafe.Escape(fmt.Sprint(v)))
	}
	return &ExitError{Code: 1, Err: fmt.Errorf("refusing the push: %d %s of the verdict policy", len(violations), plural(len(violations), "violation")),
		Hint: "retest with git rapido test (or review again), then push again; git rapido verify shows every verdict"}
}

// planChecks lists the commits to check for each update: those new to the
// receiving side, and for a ref the policy protects, every commit that
// becomes reachable from it and that no ref protected at least as strictly
// already reaches (a commit pushed to an unprotected "wip" first is checked
// when it lands on "main"). An update to a tree or blob (an annotated tag
// to a tree, say) carries no verdict: it violates every rule for its ref.
func planChecks(ctx context.Context, env *Env, policy *hooks.Policy, us []hooks.Update, side pushSide) ([]refCheck, []hooks.Violation, error) {
	objs, err := peeledObjects(ctx, env, us)
	if err != nil {
		return nil, nil, err
	}
	var checks []refCheck
	var violations []hooks.Violation
	var tips []hooks.Tip
	tipsRead := false
	for _, u := range us {
		if hooks.ZeroID(u.New) {
			continue
		}
		if o := objs[u.New]; o[1] != "commit" {
			violations = append(violations, policy.CheckObject(u.Ref, o[0], o[1])...)
			continue
		}
		fresh, err := hooks.NewCommits(ctx, env.Runner, u, side.have...)
		if err != nil {
			return nil, nil, err
		}
		commits := fresh
		if len(policy.Required(u.Ref)) > 0 {
			if !tipsRead {
				if tips, err = side.tips(ctx); err != nil {
					return nil, nil, err
				}
				tipsRead = true
			}
			if commits, err = hooks.NewCommits(ctx, env.Runner, u, policy.Settled(u.Ref, tips)...); err != nil {
				return nil, nil, err
			}
		}
		if len(commits) > 0 {
			checks = append(checks, refCheck{u.Ref, commits, fresh})
		}
	}
	return checks, violations, nil
}

// peeledObjects maps the new value of each update to the id and type of the
// object it names once tags are peeled, in one git call.
func peeledObjects(ctx context.Context, env *Env, us []hooks.Update) (map[string][2]string, error) {
	var in bytes.Buffer
	var ids []string
	for _, u := range us {
		if !hooks.ZeroID(u.New) {
			fmt.Fprintf(&in, "%s^{}\n", u.New)
			ids = append(ids, u.New)
		}
	}
	objs := map[string][2]string{}
	if len(ids) == 0 {
		return objs, nil
	}
	out, err := env.Runner.GitInput(ctx, in.Bytes(), "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return nil, fmt.Errorf("read pushed objects: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i, id := range ids {
		f := []string{}
		if i < len(lines) {
			f = strings.Fields(lines[i])
		}
		if len(f) != 2 || f[1] == "missing" {
			return nil, fmt.Errorf("read pushed objects: %.12s: cannot read it", id)
		}
		objs[id] = [2]string{f[0], f[1]}
	}
	return objs, nil
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
