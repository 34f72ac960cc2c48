package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
)

// Colour follows git's configuration: color.rapido, else color.ui; "auto"
// (the default, and what "true" means) colours only output that goes to a
// terminal, or to a pager git or we started for one.
const (
	colorReset  = "\x1b[m"
	colorGreen  = "\x1b[32m"
	colorRed    = "\x1b[31m"
	colorYellow = "\x1b[33m"
	colorBold   = "\x1b[1m"
)

// painter colours verdict words, or leaves them alone.
type painter struct{ on bool }

// newPainter decides whether this invocation's stdout gets colour.
func newPainter(ctx context.Context, env *Env) (painter, error) {
	setting, key := "auto", ""
	if cfg, err := env.Config(ctx); err == nil && cfg != nil {
		for _, k := range []string{"color.rapido", "color.ui"} {
			if v, ok := cfg.Get(k); ok {
				setting, key = v, k
				break
			}
		}
	}
	when, err := parseColorWhen(setting)
	if err != nil {
		return painter{}, fmt.Errorf("config: %s: %w", key, err)
	}
	switch when {
	case "always":
		return painter{true}, nil
	case "never":
		return painter{false}, nil
	}
	if env.Getenv != nil && env.Getenv("TERM") == "dumb" {
		return painter{false}, nil
	}
	return painter{IsTerminal(env.Stdout) || env.pagerInUse(ctx)}, nil
}

// parseColorWhen reads a color.* value as git does: a boolean, or
// always/never/auto.
func parseColorWhen(v string) (string, error) {
	switch strings.ToLower(v) {
	case "always":
		return "always", nil
	case "never":
		return "never", nil
	case "auto", "":
		return "auto", nil
	}
	b, err := gitexec.ParseBool(v)
	if err != nil {
		return "", fmt.Errorf("bad value %q: want always, never, auto or a boolean", v)
	}
	if b {
		return "auto", nil
	}
	return "never", nil
}

// verdict colours a verdict word: pass green, failures red, doubt yellow.
func (p painter) verdict(word string) string {
	if !p.on {
		return word
	}
	c := verdictColor(word)
	if c == "" {
		return word
	}
	return c + word + colorReset
}

// pad colours word after padding it to width, so columns line up: the
// escape sequences take no room on the terminal.
func (p painter) pad(word string, width int) string {
	padded := fmt.Sprintf("%-*s", width, word)
	if !p.on {
		return padded
	}
	return p.verdict(word) + padded[len(word):]
}

func verdictColor(word string) string {
	w, _, _ := strings.Cut(word, " ")
	switch strings.ToLower(w) {
	case "pass", "good", "ok":
		return colorGreen
	case "fail", "crash", "hang", "build-fail", "bad", "infra",
		"stale", "bad-signature", "malformed":
		return colorRed
	case "flaky", "untrusted", "skip", "skipped", "unsigned", "unknown-key", "rebased":
		return colorYellow
	}
	return ""
}

// bold is for the one line a command wants read first (bisect's culprit).
func (p painter) bold(s string) string {
	if !p.on {
		return s
	}
	return colorBold + s + colorReset
}
