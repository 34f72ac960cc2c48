package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/git-rapido/git-rapido/trailers"
)

// A Tested-by from the commit's own author, or from someone who signed it
// off, is one kernel maintainers do not take: testing your own patch is
// what you are expected to do anyway. rapido.selfTrailer says what git
// rapido test does then: add it silently, warn (the default: add it and say
// so in one line) or skip it.

// selfTrailer reports whether "key: value" is to be added to commit, and
// warns or says why not when the person it names wrote or signed off the
// commit (same e-mail address, case-insensitive).
func selfTrailer(ctx context.Context, env *Env, commit, key, value string) (bool, error) {
	policy, err := configChoice(ctx, env, "rapido.selfTrailer")
	if err != nil || policy == "add" {
		return err == nil, err
	}
	why, err := ownCommit(ctx, env, commit, emailOf(value))
	if err != nil || why == "" {
		return err == nil, err
	}
	if policy == "skip" {
		fmt.Fprintf(env.Stderr, "rapido: not adding %s: %s to %.12s: %s (rapido.selfTrailer=skip)\n", key, value, commit, why)
		return false, nil
	}
	fmt.Fprintf(env.Stderr, "warning: %s: %s added to %.12s, but %s: maintainers do not take it (rapido.selfTrailer=skip leaves it out)\n",
		key, value, commit, why)
	return true, nil
}

// ownCommit says how the person with e-mail address email made commit
// ("you authored it", "you signed it off"), or "" when they did not.
func ownCommit(ctx context.Context, env *Env, commit, email string) (string, error) {
	if email == "" {
		return "", nil
	}
	out, err := env.Runner.Output(ctx, "git", "log", "-1", "--format=%ae%x00%B", commit)
	if err != nil {
		return "", fmt.Errorf("read commit %.12s: %w", commit, err)
	}
	author, msg, _ := strings.Cut(string(out), "\x00")
	if strings.EqualFold(strings.TrimSpace(author), email) {
		return "you authored it", nil
	}
	tcfg, err := trailerConfig(ctx, env)
	if err != nil {
		return "", err
	}
	for _, t := range trailers.Parse([]byte(msg), tcfg).Trailers() {
		if strings.EqualFold(t.Key, "Signed-off-by") && strings.EqualFold(emailOf(t.Value), email) {
			return "you signed it off", nil
		}
	}
	return "", nil
}

// emailOf is the address of "Name <address>", or "".
func emailOf(v string) string {
	i, j := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>')
	if i < 0 || j < i {
		return ""
	}
	return strings.TrimSpace(v[i+1 : j])
}
