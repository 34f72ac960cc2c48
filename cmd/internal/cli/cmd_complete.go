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
			Synopsis: []string{"__complete [<command>]"},
			Short:    "list commands, or one command's flags, for shell completion",
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

// completionWords is used by tests to check the completion source.
func completionWords(args ...string) []string {
	var b strings.Builder
	env := &Env{Stdout: &b}
	registry["__complete"]().Run(context.Background(), env, args)
	return strings.Fields(b.String())
}
