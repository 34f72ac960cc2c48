package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// The shell completions in contrib/completion ask the binary itself what to
// offer, so they never drift from the commands and flags defined here.
func init() {
	Register(func() *Command {
		return &Command{
			Name:     "__complete",
			Synopsis: []string{"__complete [<command>]", "__complete --verbs <command>"},
			Short:    "list commands, one command's flags, or its verbs, for shell completion",
			Hidden:   true,
			RawArgs:  true,
			Run: func(ctx context.Context, env *Env, args []string) error {
				if len(args) == 0 {
					for _, c := range commands() {
						if !c.Hidden {
							fmt.Fprintln(env.Stdout, c.Name)
						}
					}
					return nil
				}
				if args[0] == "--verbs" {
					if len(args) == 2 {
						if newCmd, ok := registry[args[1]]; ok {
							for _, v := range verbs(newCmd()) {
								fmt.Fprintln(env.Stdout, v)
							}
						}
					}
					return nil
				}
				newCmd, ok := registry[args[0]]
				if !ok {
					return nil
				}
				c := newCmd()
				if c.Flags == nil {
					return nil
				}
				fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
				c.Flags(fs)
				fs.VisitAll(func(f *pflag.Flag) {
					if f.Hidden {
						return
					}
					name := "--" + f.Name
					if f.Value.Type() != "bool" {
						name += "="
					}
					fmt.Fprintln(env.Stdout, name)
				})
				return nil
			},
		}
	})
}

// verbs are the words a command takes first ("cache push", "net up"),
// read from its synopsis so completion never drifts from the help.
func verbs(c *Command) []string {
	var vs []string
	seen := map[string]bool{}
	for _, s := range c.Synopsis {
		f := strings.Fields(s)
		if len(f) < 2 || f[0] != c.Name || !isVerb(f[1]) || seen[f[1]] {
			continue
		}
		seen[f[1]] = true
		vs = append(vs, f[1])
	}
	return vs
}

func isVerb(w string) bool {
	for i, r := range w {
		if !(r >= 'a' && r <= 'z' || i > 0 && r == '-') {
			return false
		}
	}
	return w != ""
}

// completionWords is used by tests to check the completion source.
func completionWords(args ...string) []string {
	var b strings.Builder
	env := &Env{Stdout: &b}
	registry["__complete"]().Run(context.Background(), env, args)
	return strings.Fields(b.String())
}
