package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

type buildOptions struct {
	jobs     string
	config   string
	kconfig  []string
	buildDir string
}

func init() {
	Register(func() *Command {
		o := &buildOptions{}
		return &Command{
			Name:      "build",
			Synopsis:  []string{"build [O=<dir>] [-j <n>] [--config <base>] [--kconfig <item>...]"},
			Short:     "configure and build the kernel of the current worktree",
			UsageExit: 128,
			Long: `Builds the worktree's kernel out of tree, as "git rapido run" does, and
prints the kernel image and release. The first build starts from
rapido.kernelConfig (tinyconfig by default), merges git rapido's built-in
fragment (serial console, initramfs, devtmpfs, the virtio verdict channel...)
and rapido.kconfig, then runs olddefconfig; every requested option that did
not take effect is reported. Later builds keep the .config and only recompile
what changed. ccache is used when installed.

On a compile failure the compiler's error lines and the log path are
printed and the exit status is 125, so "git bisect run" skips the commit.`,
			Sections: []Section{{"EXIT STATUS", "0 built, 125 the build failed, 128 cannot build (bad configuration, make missing)"}},
			Flags: func(fs *pflag.FlagSet) {
				fs.StringVarP(&o.jobs, "jobs", "j", "", "run `n` jobs "+keyNote("rapido.jobs"))
				fs.StringVar(&o.config, "config", "", "base configuration: a make target (tinyconfig, defconfig, x86_64_defconfig...) or a config `file` (rapido.kernelConfig)")
				fs.StringArrayVar(&o.kconfig, "kconfig", nil, "add a kconfig fragment file or a CONFIG_X=y `item` (repeatable; rapido.kconfig)")
				fs.StringVar(&o.buildDir, "build-dir", "", "build in `dir` (same as O=dir)")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runBuild(ctx, env, o, args)
			},
		}
	})
}

func runBuild(ctx context.Context, env *Env, o *buildOptions, args []string) error {
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "O="):
			o.buildDir = strings.TrimPrefix(a, "O=")
		case strings.HasPrefix(a, "-j"):
			o.jobs = strings.TrimPrefix(a, "-j")
		default:
			return Usagef("unexpected argument %q", a)
		}
	}
	top, rapidoDir, err := repoPaths(ctx, env)
	if err != nil {
		return asCannotTest(err)
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return asCannotTest(err)
	}
	spec, err := vmrun.SpecFromConfig(cfg, top, rapidoDir)
	if err != nil {
		return asCannotTest(err)
	}
	if o.jobs != "" {
		// rapido.jobs' own check: -j 0 is refused, not the CPU count.
		if err := spec.Set("rapido.jobs", o.jobs); err != nil {
			return Usagef("--jobs: %v", err)
		}
	}
	bo := spec.Build
	if o.buildDir != "" {
		if bo.BuildDir, err = filepath.Abs(o.buildDir); err != nil {
			return asCannotTest(err)
		}
	}
	if o.config != "" {
		bo.BaseConfig = o.config
		if !vmrun.IsConfigTarget(o.config) {
			bo.BaseConfig, _ = filepath.Abs(o.config)
		}
	}
	bo.Fragments = append(bo.Fragments, o.kconfig...)
	bo.LogDir = filepath.Join(rapidoDir, "logs", "build")
	bo.Progress, bo.Terminal, bo.Exec = env.Stderr, IsTerminal(env.Stderr), env.Runner
	bo.Git = cliGit{env.Runner}
	res, err := vmrun.Build(ctx, bo)
	var be *vmrun.BuildError
	switch {
	case errors.As(err, &be):
		fmt.Fprintln(env.Stderr, "rapido: build failed")
		for _, l := range be.Excerpt {
			fmt.Fprintf(env.Stderr, "    %s\n", l)
		}
		fmt.Fprintf(env.Stderr, "rapido: log in %s\n", be.Log)
		return &ExitError{Code: 125}
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return asCannotTest(err)
	}
	res.Wait()
	for _, w := range res.Warnings {
		fmt.Fprintf(env.Stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(env.Stdout, "%s\t%s\n", res.KernelImage, res.KernelRelease)
	if res.Skipped {
		fmt.Fprintf(env.Stderr, "rapido: %s (%s, %s)\n", vmrun.SkipNote, res.KernelRelease, res.Duration.Round(1e6))
		return nil
	}
	fmt.Fprintf(env.Stderr, "rapido: built %s in %s\n", res.KernelRelease, res.Duration.Round(1e8))
	return nil
}
