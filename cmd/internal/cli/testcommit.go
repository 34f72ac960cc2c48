package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/trailers/attest"
	"github.com/git-rapido/git-rapido/vmrun"
	"github.com/git-rapido/git-rapido/vmrun/cache"
)

// The wiring of the domain's Tester and verdict cache to this invocation:
// its git runner, the user's identity, keys and terminal. The decisions
// themselves (cache or run, trust, what to store) live in vmrun and
// vmrun/cache.

// newTester makes the Tester for a test, bisect step or rebase exec line.
func newTester(ctx context.Context, env *Env, host vmrun.Host) (*vmrun.Tester, error) {
	policy, err := trustPolicy(ctx, env)
	if err != nil {
		return nil, err
	}
	t := &vmrun.Tester{Git: cliGit{env.Runner}, Trust: policy, Warn: env.Stderr,
		Host: host}
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	if k, _ := cfg.Get("rapido.signingKey"); strings.TrimSpace(k) != "" {
		t.Signer = entrySigner{ctx, env}
	}
	return t, nil
}

// trustPolicy is who we are (user.email, this machine, the seal secret in
// the user's configuration directory) and which keys we trust.
func trustPolicy(ctx context.Context, env *Env) (cache.Policy, error) {
	cfg, err := env.Config(ctx)
	if err != nil {
		return cache.Policy{}, err
	}
	email, _ := cfg.Get("user.email")
	email = strings.TrimSpace(email)
	dir := env.Getenv("XDG_CONFIG_HOME")
	if dir == "" && env.Getenv("HOME") != "" {
		dir = filepath.Join(env.Getenv("HOME"), ".config")
	}
	// Without a seal secret nothing counts as our own (everything is
	// retested unless signed by a trusted key), but testing still works.
	local := cache.NewLocal(email, cache.MachineID(), Version(), nil)
	if dir == "" {
		fmt.Fprintln(env.Stderr, "warning: no HOME: cached verdicts of your own cannot be recognised")
	} else if l, err := cache.LoadLocal(email, Version(), filepath.Join(dir, "git-rapido", "verdict-seal")); err != nil {
		fmt.Fprintf(env.Stderr, "warning: %v: cached verdicts of your own cannot be recognised\n", err)
	} else {
		local = l
	}
	return cache.Policy{Local: local, Keys: &entryKeys{ctx: ctx, env: env}}, nil
}

// entryKeys verifies cached entries' signatures against rapido.trustedKeys
// and rapido.keyringRef, loaded only when an entry needs it (a cache hit on
// our own verdict reads no key).
type entryKeys struct {
	ctx  context.Context
	env  *Env
	once sync.Once
	kr   *attest.Keyring
	err  error
}

func (k *entryKeys) VerifyEntry(payload []byte, sig string) (string, error) {
	k.once.Do(func() { k.kr, k.err = loadKeyring(k.ctx, k.env) })
	if k.err != nil {
		return "", fmt.Errorf("trusted keys: %w", k.err)
	}
	if k.kr.Len() == 0 {
		return "", errors.New("signed, but no key is trusted (rapido.trustedKeys, rapido.keyringRef)")
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "", fmt.Errorf("signature: %w", err)
	}
	return k.kr.VerifyDetached(payload, raw)
}

// entrySigner signs recorded verdicts with rapido.signingKey.
type entrySigner struct {
	ctx context.Context
	env *Env
}

func (s entrySigner) SignEntry(payload []byte) (string, error) {
	signer, err := configuredSigner(s.ctx, s.env)
	if err != nil || signer == nil {
		return "", err
	}
	sig, err := signer.SignDetached(payload, time.Now().UTC().Truncate(time.Second))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// cliGit gives the domain the runner's git, with exit statuses it can read
// without importing the runner.
type cliGit struct{ r *gitexec.Runner }

type gitError struct{ err error }

func (e gitError) Error() string   { return e.err.Error() }
func (e gitError) Unwrap() error   { return e.err }
func (e gitError) ExitStatus() int { return gitexec.ExitCode(e.err) }

func wrapGit(err error) error {
	if err == nil {
		return nil
	}
	return gitError{err}
}

func (g cliGit) Git(ctx context.Context, args ...string) (string, error) {
	out, err := g.r.Git(ctx, args...)
	return out, wrapGit(err)
}

func (g cliGit) GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	out, err := g.r.GitInput(ctx, stdin, args...)
	return out, wrapGit(err)
}

func (g cliGit) GitEnv(ctx context.Context, env []string, args ...string) (string, error) {
	r := *g.r
	r.Env = append(append([]string(nil), g.r.Env...), env...)
	out, err := r.Git(ctx, args...)
	return out, wrapGit(err)
}

// printTestResult prints a Tester's result: what the cache held when it
// did not answer, the verdict, and the runs of a repeated test.
func printTestResult(env *Env, r *vmrun.TestResult) {
	d := r.Decision
	switch {
	case r.Cached:
	case d.Outcome == cache.Flaky:
		fmt.Fprintf(env.Stderr, "rapido: tree %.12s is flaky in the cache (trusted verdicts disagree, or a repeated test both passed and failed): tested again\n", r.Worktree.Tree)
	case d.Ignored > 0:
		fmt.Fprintf(env.Stderr, "rapido: ignored %d untrusted cached verdict(s) for tree %.12s (see git rapido cache show)\n", d.Ignored, r.Worktree.Tree)
	}
	if !r.Worktree.Clean() {
		fmt.Fprintf(env.Stderr, "rapido: verdict for the worktree's uncommitted code (tree %.12s), not for HEAD\n", r.Worktree.Tree)
	}
	printVerdict(env, r.Verdict, r.Cached, false)
	if r.Runs > 1 {
		fmt.Fprintf(env.Stderr, "rapido: %d of %d run(s) passed\n", r.Passed, r.Runs)
	}
}
