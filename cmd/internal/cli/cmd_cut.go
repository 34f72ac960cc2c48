package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

type cutOptions struct {
	name, manifest, script, output string
	list                           bool
}

func init() {
	Register(func() *Command {
		o := &cutOptions{}
		return &Command{
			Name:     "cut",
			Synopsis: []string{"cut [--cut <name> | --manifest <file>] [--script <file>] -o <file> [-- <cmd>...]", "cut --list"},
			Short:    "write a test image (initramfs) without booting it",
			Long: `Resolves a cut manifest — the programs, files and kernel modules a test
needs, with their shared-library closure read from the ELF headers — adds git
rapido's own static /init, and writes a reproducible newc cpio archive: the
same inputs give a byte-identical image.

Cuts are looked up by name in the directories of rapido.cutPath, then in
.rapido/cuts/ of the repository, then among the built-in cuts (boot, shell,
script). A manifest without kmod lines works outside a kernel tree.

MANIFEST FORMAT
One directive per line; "#" starts a comment; relative paths are relative
to the manifest's directory.
    bin PATH...            programs (bare names are looked up in PATH), with their libraries
    try-bin PATH...        the same, skipping programs that are missing
    kmod NAME...           kernel modules with their dependencies (modprobe'd at boot)
    try-kmod NAME...       the same, skipping modules the kernel does not have
    file HOSTPATH GUESTPATH
    dir PATH...
    slink TARGET LINK
    tree HOSTDIR GUESTDIR  a whole directory
    autorun SCRIPT         run SCRIPT with /bin/sh at boot, in order
    include OTHER          another manifest file, or a cut by name
    shell                  give an interactive shell on the console instead of a test`,
			Flags: func(fs *pflag.FlagSet) {
				fs.StringVar(&o.name, "cut", "", "use the cut called `name`")
				fs.StringVar(&o.manifest, "manifest", "", "use the manifest `file`")
				fs.StringVar(&o.script, "script", "", "run the shell script `file` as the test")
				fs.StringVarP(&o.output, "output", "o", "", "write the image to `file`")
				fs.BoolVar(&o.list, "list", false, "list the cuts that can be used")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runCut(ctx, env, o, args)
			},
		}
	})
}

func runCut(ctx context.Context, env *Env, o *cutOptions, args []string) error {
	search, err := cutSearchPath(ctx, env)
	if err != nil {
		return err
	}
	if o.list {
		for _, n := range vmrun.CutNames() {
			fmt.Fprintf(env.Stdout, "%-12s built-in\n", n)
		}
		for _, d := range search {
			m, _ := filepath.Glob(filepath.Join(d, "*.cut"))
			for _, f := range m {
				fmt.Fprintf(env.Stdout, "%-12s %s\n", strings.TrimSuffix(filepath.Base(f), ".cut"), f)
			}
		}
		return nil
	}
	if o.output == "" {
		return Usagef("-o <file> is required")
	}
	if o.name != "" && o.manifest != "" {
		return Usagef("--cut and --manifest are mutually exclusive")
	}
	var command []string
	if env.DashAt >= 0 {
		command = args[env.DashAt:]
		args = args[:env.DashAt]
	}
	if len(args) > 0 {
		return Usagef("unexpected argument %q (a test command goes after --)", args[0])
	}
	if o.script != "" && len(command) > 0 {
		return Usagef("--script and -- <cmd> are mutually exclusive")
	}
	co := vmrun.CutOptions{Name: o.name, Manifest: o.manifest, Script: o.script,
		Command: command, SearchPath: search, InitBinary: os.Getenv("RAPIDO_INIT")}
	if cfg, err := env.Config(ctx); err == nil {
		co.Lookup = cfg.Get // the manifest's config directive
		top, err := env.Runner.Git(ctx, "rev-parse", "--show-toplevel")
		if err != nil {
			top = "."
		}
		if co.Arch, co.Sysroot, err = vmrun.CutTarget(cfg, top); err != nil {
			return err
		}
	}
	plan, err := vmrun.PlanCut(co)
	if err != nil {
		return fmt.Errorf("cut: %w", err)
	}
	if err := plan.WriteImageTo(o.output); err != nil {
		return fmt.Errorf("cut: write %s: %w", o.output, err)
	}
	fmt.Fprintf(env.Stderr, "wrote %s (%d entries)\n", o.output, len(plan.Paths()))
	return nil
}

// cutSearchPath is vmrun's search path for the current worktree, or the
// rapido.cutPath directories alone outside one (a cut without kmod lines
// works anywhere).
func cutSearchPath(ctx context.Context, env *Env) ([]string, error) {
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	top, err := env.Runner.Git(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		// Outside a worktree: relative directories are relative to here.
		top = "."
	}
	return vmrun.CutSearchPath(cfg, top), nil
}
