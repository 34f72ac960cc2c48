package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

type bootOptions struct {
	test testFlags
}

func init() {
	Register(func() *Command {
		o := &bootOptions{}
		return &Command{
			Name:      "boot",
			Synopsis:  []string{"boot [--no-build] [<test options>]"},
			Short:     "build the kernel and boot it with an interactive shell on the console",
			UsageExit: 128,
			Long: `Builds the kernel (unless --no-build), cuts the "shell" image (or the cut
given with --cut) and boots it with the serial console on your terminal, like
rapido's vm.sh. Leave the shell with "exit" or Ctrl-D; Ctrl-A X quits QEMU.`,
			Flags: func(fs *pflag.FlagSet) {
				o.test.Register(fs)
				fs.BoolVar(&o.test.noBuild, "no-build", false, "boot the last build as it is")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if o.test.cut == "" && o.test.manifest == "" {
					o.test.cut = "shell"
				}
				spec, err := o.test.Spec(ctx, env, args)
				if err != nil {
					return asCannotTest(err)
				}
				spec.Interactive = true
				spec.Cut.Timeout = 0
				v, err := vmrun.Run(ctx, spec, vmrun.Host{Exec: env.Runner, Git: cliGit{env.Runner}, Progress: env.Stderr, Terminal: IsTerminal(env.Stderr)})
				if err != nil {
					return err
				}
				if v.Status == vmrun.Infra || v.Status == vmrun.BuildFail {
					printVerdict(env, v, false, false)
					return verdictExit(v)
				}
				return nil
			},
		}
	})
}
