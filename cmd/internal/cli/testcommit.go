package cli

import (
	"context"
	"fmt"

	"github.com/git-rapido/git-rapido/cmd/internal/cache"
	"github.com/git-rapido/git-rapido/vmrun"
)

// testCommit tests the checked-out commit, answering from the verdict cache
// when its tree already has a verdict for the same spec. Fresh verdicts
// (all but infrastructure failures) are stored for next time. The spec is
// resolved once: the key and the run come from one plan, and the key is
// returned for the caller's attestation.
func testCommit(ctx context.Context, env *Env, spec *vmrun.Spec, force bool) (v *vmrun.Verdict, cached bool, digest string, err error) {
	ids, err := env.Runner.Git(ctx, "rev-parse", "HEAD", "HEAD^{tree}")
	if err != nil {
		return nil, false, "", fmt.Errorf("read HEAD: %w", err)
	}
	var commit, tree string
	fmt.Sscan(ids, &commit, &tree)
	plan, err := vmrun.NewPlan(spec, env.Runner)
	if err != nil {
		return nil, false, "", err
	}
	if digest, err = plan.Key(); err != nil {
		return nil, false, "", fmt.Errorf("digest test spec: %w", err)
	}
	c := &cache.Cache{Git: env.Runner}
	if !force {
		e, err := c.Lookup(ctx, tree, digest)
		if err != nil {
			return nil, false, "", err
		}
		if e != nil {
			return e.Verdict(), true, digest, nil
		}
	}
	v, err = vmrun.RunPlan(ctx, plan, vmrun.Host{Exec: env.Runner, Progress: env.Stderr, Terminal: IsTerminal(env.Stderr)})
	if err != nil {
		return nil, false, "", err
	}
	if cache.Cacheable(v.Status) {
		parents, _ := env.Runner.Git(ctx, "show", "-s", "--format=%P", commit)
		if err := c.Store(ctx, tree, cache.FromVerdict(digest, commit, parents, Version(), v)); err != nil {
			fmt.Fprintf(env.Stderr, "warning: %v\n", err)
		}
	}
	return v, false, digest, nil
}
