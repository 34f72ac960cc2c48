package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
)

// UsageError is a mistake in how the command was called: it prints the
// message and the command's usage, and exits with the command's UsageExit.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// ExitError ends the command with Code. Err, when set, is printed as
// "fatal: ..." (or "error: ..." when Code is below 128, as git prints errors
// that are not fatal); with Err nil nothing is printed because the command
// already told the user what happened.
type ExitError struct {
	Code int
	Err  error
	Hint string // printed as "hint: ..." lines after the error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// HintError wraps err with advice printed as git-style "hint:" lines.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// exitStatus is the single place where errors become exit codes and text.
func exitStatus(env *Env, cmd *Command, err error, usageExit int) int {
	if err == nil {
		return 0
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(env.Stderr, "error: %s\n", ue.Msg)
		printUsage(env.Stderr, cmd)
		return usageExit
	}
	hint := ""
	var he *HintError
	if errors.As(err, &he) {
		hint = he.Hint
	}
	var xe *ExitError
	if errors.As(err, &xe) {
		if xe.Hint != "" {
			hint = xe.Hint
		}
		if xe.Err != nil {
			prefix := "fatal"
			if xe.Code < 128 {
				prefix = "error"
			}
			printError(env, prefix, xe.Err, hint)
		}
		return xe.Code
	}
	if errors.Is(err, context.Canceled) {
		// SIGINT, SIGTERM, SIGHUP or a closed output pipe: the command
		// stopped and restored the repository.
		fmt.Fprintln(env.Stderr, interruptedMessage(err))
		return 130
	}
	printError(env, "fatal", err, hint)
	return 128
}

func printError(env *Env, prefix string, err error, hint string) {
	msg := err.Error()
	// A failed git command already says "fatal: ..." on its stderr; do not
	// stack our prefix on top of git's.
	var ge *gitexec.Error
	if errors.As(err, &ge) {
		msg = strings.ReplaceAll(msg, "fatal: ", "")
	}
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	// An error may quote a subject, a trailer or a guest's output.
	fmt.Fprintf(env.Stderr, "%s: %s\n", prefix, termsafe.Escape(lines[0]))
	for _, l := range lines[1:] {
		fmt.Fprintf(env.Stderr, "  %s\n", termsafe.Escape(l))
	}
	if hint != "" {
		for _, l := range strings.Split(strings.TrimRight(hint, "\n"), "\n") {
			fmt.Fprintf(env.Stderr, "hint: %s\n", l)
		}
	}
}
