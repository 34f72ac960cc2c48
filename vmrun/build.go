package vmrun

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
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

	Launcher string // rapido.compilerLauncher: icecc, distcc (runs each compile)
	// Git, when set, lets the build reuse the last build's kernel without
	// running make when no input of it changed between the tree last
	// built and the worktree's (docs/commands.md, "build").
	Git Git
	// Tree is the worktree's tree when the caller has read it already.
	Tree string
	// VmlinuxIf (CONFIG_PVH) says the boot will take vmlinux when the
	// .config sets it: make builds vmlinux, not the compressed image
	// (BuildResult.VmlinuxOnly, Image).
	VmlinuxIf string
	// Reread, when set, reads the worktree's tree once make is done
	// (Host.Reread); else the record reads it itself.
	Reread func(context.Context) (string, error)
}

// BuildResult describes a finished build.
type BuildResult struct {
	KernelImage, BuildDir, ModulesDir, KernelRelease, ConfigPath, Log string
	Duration                                                          time.Duration
	Warnings                                                          []string
	// NewWarnings are compiler warnings the build directory had not seen
	// (the first build of a directory records them all as its baseline).
	NewWarnings []string
	// Skipped says make did not run: no input of the last build's kernel
	// changed, and that kernel is the result (SkipNote).
	Skipped bool
	// VmlinuxOnly says KernelImage is vmlinux: the compressed image was
	// not made (BuildOptions.VmlinuxIf); Image makes it.
	VmlinuxOnly bool
	// Vmlinux is the vmlinux a fast boot takes when it is not the build
	// directory's: a series' slot keeps a copy (BuildPlan with detach).
	Vmlinux string
	wait    func()
	kr      *kbuild.Result
	ko      kbuild.Options
}

// Image returns the compressed image (bzImage) of the build, making it
// when the build made only vmlinux: a boot that cannot take vmlinux (the
// fast boot refused, several VMs) boots the kernel that was built, never a
// stale image. It fails when the build directory has moved on since.
func (r *BuildResult) Image(ctx context.Context) (string, error) {
	if !r.VmlinuxOnly {
		return r.KernelImage, nil
	}
	if r.kr == nil {
		return "", fmt.Errorf("the last build made only %s, not the compressed image a classic boot takes (run git rapido build)", filepath.Base(r.KernelImage))
	}
	if r.ko.Progress != nil {
		a, _ := kbuild.ArchOf(r.ko.Arch)
		fmt.Fprintf(r.ko.Progress, "build: making %s for a boot that cannot take vmlinux\n", a.Image)
	}
	img, err := kbuild.MakeImage(ctx, r.ko, r.kr)
	if err != nil {
		return "", err
	}
	r.KernelImage, r.VmlinuxOnly = img, false
	return img, nil
}

// Wait waits until the build is recorded for later skips; the recording
// runs next to what follows the build and holds the build directory.
func (r *BuildResult) Wait() {
	if r.wait != nil {
		r.wait()
	}
}

// SkipNote is what a build that reused the last kernel says.
const SkipNote = kbuild.SkipNote

// BuildError is a compile failure: the tree under test is broken (exit 125).
type BuildError = kbuild.Error

// ConfigError is a configuration failure: git rapido cannot test (exit 128).
type ConfigError = kbuild.ConfigError

func (o BuildOptions) internal() kbuild.Options {
	return kbuild.Options{SourceDir: o.SourceDir, BuildDir: o.BuildDir, LogDir: o.LogDir, Jobs: o.Jobs,
		Arch: o.Arch, CrossCompile: o.CrossCompile, LLVM: o.LLVM, CC: o.CC, MakeWrapper: o.MakeWrapper,
		Launcher:   o.Launcher,
		BaseConfig: o.BaseConfig, Fragments: o.Fragments, Make: o.Make, Progress: o.Progress,
		Terminal: o.Terminal, Verbose: o.Verbose, Exec: o.Exec, VmlinuxIf: o.VmlinuxIf}
}

// Build configures (when needed) and builds the kernel.
func Build(ctx context.Context, o BuildOptions) (*BuildResult, error) {
	ko := o.internal()
	if o.Git != nil {
		ko.Reuse = reuseOf(ctx, o)
	}
	r, err := kbuild.Build(ctx, ko)
	if err != nil {
		return nil, err
	}
	return &BuildResult{KernelImage: r.KernelImage, BuildDir: r.BuildDir, ModulesDir: r.ModulesDir,
		KernelRelease: r.KernelRelease, ConfigPath: r.ConfigPath, Log: r.Log, Duration: r.Duration,
		Warnings: r.Warnings, NewWarnings: r.NewWarnings, Skipped: r.Skipped, wait: r.Wait,
		VmlinuxOnly: r.VmlinuxOnly, kr: r, ko: ko}, nil
}

// reuseOf is what the build needs of git to decide whether make can be
// skipped: the worktree's tree (the one clean rule of ReadWorktree: a
// dirty worktree's tree is written from a temporary index; read next to
// the decision's first checks unless the caller knows it), the paths that
// differ from the tree last built, and the worktree read again after make.
// Without a tree (git fails) make runs as always.
func reuseOf(ctx context.Context, o BuildOptions) *kbuild.Reuse {
	g := o.Git
	return &kbuild.Reuse{
		Tree: o.Tree,
		ReadTree: func(ctx context.Context) (string, error) {
			w, err := ReadWorktree(ctx, g)
			if err != nil {
				return "", err
			}
			return w.Tree, nil
		},
		Compiler: compilerIdentity(o, o.Exec),
		Head: func(ctx context.Context) (string, error) {
			out, err := g.Git(ctx, "rev-parse", "--verify", "HEAD^{tree}")
			return strings.TrimSpace(out), err
		},
		Diff: func(ctx context.Context, from, to string) ([]kbuild.Change, error) {
			// Renames as a deletion and an addition: both paths count.
			out, err := g.Git(ctx, "diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", from, to, "--")
			if err != nil {
				return nil, err
			}
			return parseNameStatus(out)
		},
		Files: func(ctx context.Context, tree string) ([]string, error) {
			out, err := g.Git(ctx, "ls-tree", "-r", "-z", "--name-only", "--full-tree", tree)
			return splitNUL(out), err
		},
		Now: func(ctx context.Context) (string, error) {
			if o.Reread != nil {
				return o.Reread(ctx)
			}
			w, err := ReadWorktree(ctx, g)
			if err != nil {
				return "", err
			}
			return w.Tree, nil
		},
	}
}

// parseNameStatus reads "git diff --name-status -z": a status and a path,
// each ended by a NUL.
func parseNameStatus(out string) ([]kbuild.Change, error) {
	f := strings.Split(out, "\x00")
	if len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	if len(f)%2 != 0 {
		return nil, fmt.Errorf("git diff --name-status: unexpected output")
	}
	var cs []kbuild.Change
	for i := 0; i < len(f); i += 2 {
		cs = append(cs, kbuild.Change{Path: f[i+1], Added: f[i] == "A"})
	}
	return cs, nil
}

func splitNUL(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\x00") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
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
