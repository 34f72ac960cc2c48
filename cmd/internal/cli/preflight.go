package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/git-rapido/git-rapido/rebase"
	"github.com/git-rapido/git-rapido/trailers"
)

// amendPreflight refuses, before any build or test, what would stop the
// final amend (rebase.Preflight says what), as one fatal line and a hint.
// verb is the command ("test", "review"); dirtyHint the advice for
// uncommitted changes.
func amendPreflight(ctx context.Context, env *Env, verb, dirtyHint string, o rebase.PreflightOptions) error {
	// go-git finds the repository from here (objects are read by id, so
	// whichever repository it finds, what it reads is the object git means).
	if o.Dir = env.Runner.Dir; o.Dir == "" {
		o.Dir = "."
	}
	err := rebase.Preflight(ctx, env.Runner, o)
	if err == nil {
		return nil
	}
	hint := dirtyHint
	var rf *rebase.Refusal
	if errors.As(err, &rf) {
		hint = rf.Hint
	} else if !errors.Is(err, rebase.ErrDirty) {
		hint = ""
	}
	return &ExitError{Code: 128, Err: fmt.Errorf("%s: %w", verb, err), Hint: hint}
}

// keptTrailers is the amend's Check: every trailer the amend adds (in
// after, not in before) must survive the hooks, or a verdict would be
// announced but not recorded. Keys are compared as configured
// (trailer.<name>.key aliases resolved), values exactly.
func keptTrailers(cfg *trailers.Config, before, after []byte) func([]byte) error {
	had := map[string]bool{}
	for _, t := range trailers.Parse(before, cfg).Trailers() {
		had[strings.ToLower(t.Key)+"\x00"+t.Value] = true
	}
	var added []trailers.Trailer
	for _, t := range trailers.Parse(after, cfg).Trailers() {
		if !had[strings.ToLower(t.Key)+"\x00"+t.Value] {
			added = append(added, t)
		}
	}
	return func(msg []byte) error {
		for _, t := range added {
			if !hasTrailer(msg, cfg, t.Key, t.Value) {
				return fmt.Errorf("removed the %s trailer", t.Key)
			}
		}
		return nil
	}
}

// hintOf turns the amend's refusals into git-style hints.
func hintOf(err error) error {
	var rf *rebase.Refusal
	if errors.As(err, &rf) && rf.Hint != "" {
		return &HintError{Err: err, Hint: rf.Hint}
	}
	return err
}
