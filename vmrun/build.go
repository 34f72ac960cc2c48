package vmrun

import (
	"context"
	"io"
	"os/exec"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
)

// Execer runs a prepared command; *gitexec.Runner satisfies it.
type Execer interface{ Run(*exec.Cmd) error }

// BuildOptions say how to build the kernel.
type BuildOptions struct {
	SourceDir, BuildDir, LogDir  string
	Jobs                         int
	Arch, CrossCompile, LLVM, CC string
	MakeWrapper                  []string
	BaseConfig                   string   // a make target (see IsConfigTarget) or a file
	Fragments                    []string // files or CONFIG_X=y items
	Make                         string   // make binary ("make"; RAPIDO_MAKE overrides)
	Progress                     io.Writer
	Terminal                     bool
	Verbose                      bool // stream make's output instead of the live progress line
	Exec                         Execer
}

// BuildResult describes a finished build.
type BuildResult struct {
	KernelImage, BuildDir, ModulesDir, KernelRelease, ConfigPath, Log string
	Duration                                                          time.Duration
	Warnings                                                          []string
	// NewWarnings are compiler warnings the build directory had not seen
	// (the first build of a directory records them all as its baseline).
	NewWarnings []string
}

// BuildError is a compile failure: the tree under test is broken (exit 125).
type BuildError = kbuild.Error

// ConfigError is a configuration failure: git rapido cannot test (exit 128).
type ConfigError = kbuild.ConfigError

func (o BuildOptions) internal() kbuild.Options {
	return kbuild.Options{SourceDir: o.SourceDir, BuildDir: o.BuildDir, LogDir: o.LogDir, Jobs: o.Jobs,
		Arch: o.Arch, CrossCompile: o.CrossCompile, LLVM: o.LLVM, CC: o.CC, MakeWrapper: o.MakeWrapper,
		BaseConfig: o.BaseConfig, Fragments: o.Fragments, Make: o.Make, Progress: o.Progress,
		Terminal: o.Terminal, Verbose: o.Verbose, Exec: o.Exec}
}

// Build configures (when needed) and builds the kernel.
func Build(ctx context.Context, o BuildOptions) (*BuildResult, error) {
	r, err := kbuild.Build(ctx, o.internal())
	if err != nil {
		return nil, err
	}
	return &BuildResult{KernelImage: r.KernelImage, BuildDir: r.BuildDir, ModulesDir: r.ModulesDir,
		KernelRelease: r.KernelRelease, ConfigPath: r.ConfigPath, Log: r.Log, Duration: r.Duration,
		Warnings: r.Warnings, NewWarnings: r.NewWarnings}, nil
}

// ConfigDigest hashes everything that decides the kernel configuration.
func ConfigDigest(o BuildOptions) (string, error) { return kbuild.ConfigDigest(o.internal()) }

// IsConfigTarget reports whether a base configuration (rapido.kernelConfig,
// --config) is a make target of the kernel tree rather than a file; only a
// file is made absolute against the directory it was given in.
func IsConfigTarget(base string) bool { return kbuild.IsConfigTarget(base) }

// The rapido.warnings policies.
const (
	WarningsWarn = "warn"
	WarningsFail = "fail"
)

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
