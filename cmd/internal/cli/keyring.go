package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/trailers/attest"
)

// trustedKeys is the keyring verdicts are checked with, and where its
// rapido.keyringRef part came from.
type trustedKeys struct {
	keys   *attest.Keyring
	ref    string // rapido.keyringRef, a full ref name; "" when unset
	target string // the ref it names when it is a symbolic ref, else ref
	commit string // the commit ref resolved to
}

// isRef reports whether name is the keyring ref or, when that is a symbolic
// ref, the ref it names: updating either changes the keyring.
func (t *trustedKeys) isRef(name string) bool {
	return t.ref != "" && (name == t.ref || name == t.target)
}

// loadKeyring reads the trusted keys (see loadTrust) for callers that
// verify no range of their own.
func loadKeyring(ctx context.Context, env *Env) (*attest.Keyring, error) {
	t, err := loadTrust(ctx, env)
	if err != nil {
		return nil, err
	}
	return t.keys, nil
}

// loadTrust reads the trusted keys: every rapido.trustedKeys file and the
// .rapido/keys/*.asc files of the commit rapido.keyringRef points to.
// Whoever verifies a range with it must also call notFrom, so that the
// range cannot bring its own keys.
func loadTrust(ctx context.Context, env *Env) (*trustedKeys, error) {
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	t := &trustedKeys{keys: &attest.Keyring{}}
	for _, p := range cfg.All("rapido.trustedKeys") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		p = expandPath(env, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("rapido.trustedKeys: %w", err)
		}
		if err := t.keys.Add(bytes.NewReader(b), p); err != nil {
			return nil, err
		}
	}
	ref, _ := cfg.Get("rapido.keyringRef")
	if t.ref = strings.TrimSpace(ref); t.ref == "" {
		return t, nil
	}
	if t.commit, err = resolveKeyringRef(ctx, env, t.ref); err != nil {
		return nil, err
	}
	t.target = t.ref
	if target, err := env.Runner.Git(ctx, "symbolic-ref", "-q", t.ref); err == nil {
		t.target = target
	}
	return t, t.readRef(ctx, env)
}

// resolveKeyringRef resolves a full ref name to a commit exactly. git's
// short-name rules would let a tag "keys" (refs/tags/keys) stand in for
// the branch "keys", and even a full name falls back to
// refs/tags/<name> when the ref is missing: a pusher could then choose
// the keys their own verdicts are checked with.
func resolveKeyringRef(ctx context.Context, env *Env, ref string) (string, error) {
	if !strings.HasPrefix(ref, "refs/") {
		return "", fmt.Errorf("rapido.keyringRef: %q is not a full ref name, and git's short-name rules may resolve it to another ref (a tag before a branch); set the full name (refs/heads/..., refs/remotes/...)", ref)
	}
	out, err := env.Runner.Git(ctx, "show-ref", "--verify", "--", ref)
	if err != nil {
		return "", fmt.Errorf("rapido.keyringRef: %s: no such ref", ref)
	}
	id, _, _ := strings.Cut(out, " ")
	commit, err := env.Runner.Git(ctx, "rev-parse", "--verify", "-q", id+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("rapido.keyringRef: %s: points to %.12s, which is not a commit", ref, id)
	}
	return commit, nil
}

// readRef adds the .rapido/keys/*.asc blobs of t.commit to t.keys.
func (t *trustedKeys) readRef(ctx context.Context, env *Env) error {
	out, err := env.Runner.Output(ctx, "git", "ls-tree", "-r", "-z", t.commit, "--", ".rapido/keys/")
	if err != nil {
		return fmt.Errorf("rapido.keyringRef: %s: %w", t.ref, err)
	}
	for _, e := range bytes.Split(out, []byte{0}) {
		// "<mode> SP <type> SP <object> TAB <path>"
		meta, name, ok := strings.Cut(string(e), "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 || f[1] != "blob" || !strings.HasSuffix(name, ".asc") {
			continue
		}
		b, err := env.Runner.Output(ctx, "git", "cat-file", "blob", f[2])
		if err != nil {
			return fmt.Errorf("rapido.keyringRef: %s:%s: %w", t.ref, name, err)
		}
		if err := t.keys.Add(bytes.NewReader(b), t.ref+":"+name); err != nil {
			return err
		}
	}
	return nil
}

// notFrom refuses a keyring whose history holds one of commits: it may hold
// keys that those very commits added, and a series cannot vouch for
// itself.
func (t *trustedKeys) notFrom(ctx context.Context, env *Env, commits []string) error {
	if t.ref == "" || len(commits) == 0 {
		return nil
	}
	c, err := firstAncestor(ctx, env, commits, t.commit)
	if err != nil {
		return fmt.Errorf("rapido.keyringRef: %s: %w", t.ref, err)
	}
	if c != "" {
		return fmt.Errorf("rapido.keyringRef %s contains %.12s, one of the commits being verified: a series cannot vouch for itself; point it at a ref the series is not on (e.g. refs/remotes/origin/master)", t.ref, c)
	}
	return nil
}

// firstAncestor returns one of commits that is an ancestor of (or is) tip,
// or "" when none is. When some commit is, so is every commit below it
// within the set, down to one without a parent in the set: only those
// bottom commits are tested, one git call for the parents and one per
// bottom (a series has one).
func firstAncestor(ctx context.Context, env *Env, commits []string, tip string) (string, error) {
	out, err := env.Runner.GitInput(ctx, []byte(strings.Join(commits, "\n")+"\n"), "rev-list", "--no-walk=unsorted", "--parents", "--stdin")
	if err != nil {
		return "", err
	}
	in := map[string]bool{}
	for _, c := range commits {
		in[c] = true
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || slices.ContainsFunc(f[1:], func(p string) bool { return in[p] }) {
			continue
		}
		_, err := env.Runner.Git(ctx, "merge-base", "--is-ancestor", f[0], tip)
		if err == nil {
			return f[0], nil
		}
		if gitexec.ExitCode(err) != 1 { // 1: not an ancestor
			return "", err
		}
	}
	return "", nil
}
