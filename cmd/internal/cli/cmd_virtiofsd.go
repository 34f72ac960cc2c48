package cli

import (
	"context"

	"github.com/git-rapido/git-rapido/vmrun"
)

func init() {
	Register(func() *Command {
		return &Command{
			Name:     "virtiofsd-ro",
			Synopsis: []string{"virtiofsd-ro <share> <mount point> <virtiofsd> [<argument>...]"},
			Short:    "serve a read-only share over virtiofs (started by a run)",
			Long: `Plumbing for a run that serves a read-only share over virtiofs with a
virtiofsd that cannot refuse writes itself (QEMU's C daemon): in a mount
namespace of its own, binds <share> on <mount point> read-only (nosuid,
nodev, every mount under it too), then executes <virtiofsd> with the
arguments, which serve <mount point>. The host's mount table is not
changed. Needs root.`,
			Hidden:  true,
			RawArgs: true,
			Run: func(ctx context.Context, env *Env, args []string) error {
				// It returns only when it could not execute the daemon,
				// having said why.
				return &ExitError{Code: vmrun.VirtiofsdRO(args, env.Stderr)}
			},
		}
	})
}
