// This file is "git rapido test"; it cannot be named cmd_test.go, which Go
// would take for a test file.
package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/rebase"
	"github.com/git-rapido/git-rapido/trailers"
	"github.com/git-rapido/git-rapido/trailers/attest"
	"github.com/git-rapido/git-rapido/vmrun"
)

type testOptions struct {
	test       testFlags
	noTrailer  bool
	trailerKey string
	force      bool
	repeat     int
	noVerify   bool
}

func init() {
	Register(func() *Command {
		o := &testOptions{}
		return &Command{
			Name:      "test",
			Synopsis:  []string{"test [<test options>] [--no-trailer | --trailer-key <key>] [--force] [--repeat <n>] [--no-verify] [--script <file> | -- <cmd> [<arg>...]]"},
			Short:     "test HEAD in QEMU and add a Tested-by: trailer when it passes",
			UsageExit: 128,
			Long: `Tests HEAD exactly as "git rapido run" does and, when the test passes, adds
"Tested-by: <you>" to HEAD's message through the same trailer engine as
"git rapido trailers" (your trailer.* configuration applies). It is meant for
the exec lines of an interactive rebase:

    pick d9e994e ctdb: fix ...
    exec git rapido test
    pick 5f8c115 ctdb: fix ...
    exec git rapido test

A failing commit exits non-zero, which stops the rebase right there with the
reason and the log path printed.

Verdicts are cached by tree in refs/notes/rapido: a commit whose code was
already tested with the same test (same cut, script, command, kernel
configuration and VM settings) is not built or booted again; the verdict is
shown as "(cached)" and the commit is still tagged. --force retests. Only
your own verdicts and verdicts signed by a trusted key answer (see "git
rapido cache"); trusted verdicts that disagree make the tree "flaky" and it
is tested again. --repeat N runs the test N times whatever the cache holds
(stopping at the first failure) and records how many runs passed. With
--no-trailer a dirty worktree is tested as it is, and its verdict is
recorded under the worktree's own tree, never under HEAD's.

The amend behaves like "git commit --amend --cleanup=verbatim": the author
and date are kept, the committer is refreshed, the pre-commit,
prepare-commit-msg, commit-msg, post-commit and post-rewrite hooks run, the
commit is re-signed when commit.gpgSign is set, and the reflog says
"rapido test". HEAD is moved only if it is still the commit that was tested,
and nothing is changed when the index or worktree has uncommitted changes.
The commit is written with git's plumbing: SHA-256 repositories,
extensions.worktreeConfig, partial clones and linked worktrees all work.

Before the build, a preflight refuses (exit 128) what would make the amend
fail: unreadable repository format, unborn HEAD, uncommitted changes, no
committer identity, unwritable git directory, a commit.gpgSign key gpg cannot
use. A prepare-commit-msg or commit-msg hook that removes the trailer stops
the amend: nothing is written and the hook is named (exit 128).`,
			Sections: []Section{
				{"EXIT STATUS", exitStatusSection},
				{"CONFIGURATION", keyLines("rapido.testedBy", "rapido.selfTrailer") + "\nand every key listed under git rapido run"},
			},
			Flags: func(fs *pflag.FlagSet) {
				o.test.Register(fs)
				fs.BoolVar(&o.noTrailer, "no-trailer", false, "only test; do not add a trailer")
				fs.StringVar(&o.trailerKey, "trailer-key", "Tested-by", "add the verdict under `key` instead of Tested-by")
				fs.BoolVar(&o.force, "force", false, "test again even if the verdict cache has a verdict for this tree")
				fs.IntVar(&o.repeat, "repeat", 1, "run the test `n` times whatever the cache holds; any failure is the verdict")
				fs.BoolVar(&o.noVerify, "no-verify", false, "do not run the pre-commit and commit-msg hooks")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runTest(ctx, env, o, args)
			},
		}
	})
}

func runTest(ctx context.Context, env *Env, o *testOptions, args []string) error {
	if err := attest.CheckTrailerKey(o.trailerKey); err != nil {
		return Usagef("--trailer-key: %v", err)
	}
	if o.repeat < 1 {
		return Usagef("--repeat: want a positive count")
	}
	spec, err := o.test.Spec(ctx, env, args)
	if err != nil {
		return asCannotTest(err)
	}
	var value string
	if !o.noTrailer {
		// Refuse before spending minutes on a test whose verdict could
		// not be recorded.
		// The Tester refuses a dirty worktree itself, before any build.
		if err := amendPreflight(ctx, env, "test", "commit or stash the changes first, or use --no-trailer to test without tagging",
			rebase.PreflightOptions{CleanCheckedLater: true}); err != nil {
			return err
		}
		if value, err = identity(ctx, env, "rapido.testedBy"); err != nil {
			return &ExitError{Code: 128, Err: err}
		}
		if _, err := configChoice(ctx, env, "rapido.selfTrailer"); err != nil {
			return &ExitError{Code: 128, Err: err}
		}
		if verdictSignerCheck != nil {
			// An unusable signing key (wrong passphrase) is reported now,
			// not after minutes of testing.
			if err := verdictSignerCheck(ctx, env); err != nil {
				return &ExitError{Code: 128, Err: err}
			}
		}
	}
	tester, err := newTester(ctx, env, o.test.host(env))
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	// A verdict that tags HEAD must be of HEAD's code: the Tester refuses
	// a dirty worktree before spending minutes on the test.
	res, err := tester.Test(ctx, spec, vmrun.TestOptions{Force: o.force, Repeat: o.repeat, RequireClean: !o.noTrailer})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, vmrun.ErrDirty) {
			return &ExitError{Code: 128, Err: fmt.Errorf("test: %w", err),
				Hint: "commit or stash the changes first, or use --no-trailer to test without tagging"}
		}
		return &ExitError{Code: 128, Err: err}
	}
	printTestResult(env, res)
	v := res.Verdict
	if v.Status != vmrun.Pass || o.noTrailer {
		return verdictExit(v)
	}
	commit := res.Worktree.Commit
	if add, err := selfTrailer(ctx, env, commit, o.trailerKey, value); err != nil {
		return &ExitError{Code: 128, Err: err}
	} else if !add {
		return nil
	}
	info := &verdictInfo{Verdict: string(v.Status), Spec: res.Spec, Kernel: v.KernelRelease}
	res2, err := addTrailer(ctx, env, commit, o.trailerKey, value, info, o.noVerify, "rapido test")
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	if res2.New == res2.Old {
		fmt.Fprintf(env.Stderr, "rapido: %.12s already carries %s: %s\n", commit, o.trailerKey, termsafe.Escape(value))
	} else {
		fmt.Fprintf(env.Stderr, "rapido: %.12s -> %.12s %s: %s\n", res2.Old, res2.New, o.trailerKey, termsafe.Escape(value))
	}
	return nil
}

// identity is the configured trailer value for key, or the user's
// "Name <email>" from user.name and user.email.
func identity(ctx context.Context, env *Env, key string) (string, error) {
	cfg, err := env.Config(ctx)
	if err != nil {
		return "", err
	}
	if key != "" {
		if v, ok := cfg.Get(key); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), nil
		}
	}
	name, _ := cfg.Get("user.name")
	email, _ := cfg.Get("user.email")
	if name == "" || email == "" {
		return "", &HintError{Err: errors.New("who is testing? user.name and user.email are not set"),
			Hint: "git config user.name 'Your Name'; git config user.email you@example.org"}
	}
	return name + " <" + email + ">", nil
}

// addTrailer adds "key: value" to commit's message as git interpret-trailers
// would, and amends the commit (which must still be HEAD). When the message
// does not change (the trailer is already there) nothing is rewritten.
// info, when not nil, describes the verdict the trailer records, for the
// signer.
func addTrailer(ctx context.Context, env *Env, commit, key, value string, info *verdictInfo, noVerify bool, action string) (*rebase.Result, error) {
	raw, err := env.Runner.Output(ctx, "git", "cat-file", "commit", commit)
	if err != nil {
		return nil, fmt.Errorf("read commit %.12s: %w", commit, err)
	}
	_, msg, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok {
		msg = nil
	}
	cfg, err := trailerConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	newMsg, err := trailers.Add(msg, cfg, key, value, newTrailerRunner(ctx, env))
	if err != nil {
		return nil, fmt.Errorf("add %s trailer: %w", key, err)
	}
	if info != nil && hasTrailer(msg, cfg, key, value) {
		// A verdict already recorded is not repeated, even when its
		// attestation now stands between it and the end of the block
		// (where addIfDifferentNeighbor would add it again).
		newMsg = msg
	}
	if extra, err := signedTrailers(ctx, env, commit, key, value, info); err != nil {
		return nil, err
	} else {
		for _, kv := range extra {
			if newMsg, err = trailers.Add(newMsg, cfg, kv[0], kv[1], nil); err != nil {
				return nil, err
			}
		}
	}
	if bytes.Equal(newMsg, msg) {
		return &rebase.Result{Old: commit, New: commit}, flushAttestNote(ctx, env)
	}
	top, err := env.Runner.Git(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	subject, _, _ := strings.Cut(string(newMsg), "\n")
	res, err := rebase.Amend(ctx, env.Runner, rebase.AmendOptions{Dir: top, Commit: commit, Message: newMsg,
		NoVerify: noVerify, Reflog: action + ": " + subject, Check: keptTrailers(cfg, msg, newMsg)})
	if err != nil {
		return nil, hintOf(err)
	}
	// rapido.attest=notes: the attestation note, once the trailer is in.
	return res, flushAttestNote(ctx, env)
}

func hasTrailer(msg []byte, cfg *trailers.Config, key, value string) bool {
	for _, t := range trailers.Parse(msg, cfg).Trailers() {
		if strings.EqualFold(t.Key, key) && t.Value == value {
			return true
		}
	}
	return false
}

// verdictInfo is what a verdict trailer records, beyond the commit itself.
type verdictInfo struct {
	Verdict string // "pass" (from a test), "reviewed", "acked"
	Spec    string // digest of the test spec (the verdict cache key); "" when no test ran
	Kernel  string // kernel release the test booted; "" when no test ran
}

// verdictSigner, when set (by the signing code), returns extra trailers that
// vouch for the human one.
var verdictSigner func(ctx context.Context, env *Env, commit, key, value string, info *verdictInfo) ([][2]string, error)

// verdictSignerCheck, when set, loads the signing key before a test whose
// verdict will be recorded.
var verdictSignerCheck func(ctx context.Context, env *Env) error

func signedTrailers(ctx context.Context, env *Env, commit, key, value string, info *verdictInfo) ([][2]string, error) {
	if verdictSigner == nil || info == nil {
		return nil, nil
	}
	return verdictSigner(ctx, env, commit, key, value, info)
}
