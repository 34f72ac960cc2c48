package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

// testFlags are the TEST OPTIONS shared by run, test, bisect and rebase
// --test: what to boot and how long to wait.
type testFlags struct {
	cut, manifest, script  string
	timeout, bootTimeout   string
	accel, memory, kappend string
	cpus                   string
	buildDir               string
	noBuild                bool
	net                    string
	shares                 []string
	pwd                    bool
	warnings               string
	quiet, verbose         bool
}

func (f *testFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&f.cut, "cut", "", "boot the image described by cut `name` "+keyNote("rapido.cut"))
	fs.StringVar(&f.manifest, "manifest", "", "boot the image described by the manifest `file`")
	fs.StringVar(&f.script, "script", "", "run the shell script `file` in the VM as the test")
	fs.StringVar(&f.timeout, "timeout", "", "stop the test after `duration` "+keyNote("rapido.timeout"))
	fs.StringVar(&f.bootTimeout, "boot-timeout", "", "call the kernel hung after `duration` without console output before /init "+keyNote("rapido.bootTimeout"))
	fs.StringVar(&f.accel, "accel", "", "`accel`eration: auto, kvm or tcg "+keyNote("rapido.accel"))
	fs.StringVar(&f.memory, "memory", "", "guest memory `size` "+keyNote("rapido.memory"))
	fs.StringVar(&f.cpus, "cpus", "", "guest `count` of CPUs "+keyNote("rapido.cpus"))
	fs.StringVar(&f.kappend, "append", "", "extra kernel command line `params`")
	fs.StringVar(&f.net, "net", "", "VM network `mode`: none, user or bridge "+keyNote("rapido.net.mode"))
	fs.StringVar(&f.buildDir, "build-dir", "", "build in `dir` "+keyNote("rapido.buildDir"))
	fs.StringArrayVar(&f.shares, "share", nil, "mount `hostdir[:guestdir[:rw]][,key=git|content]` in the guest over virtiofs or 9p (rapido.shareTransport; at the same path, read-only unless rw; key names how the verdict cache keys a directory outside the repository; repeatable)")
	fs.BoolVar(&f.pwd, "pwd", false, "share the current directory read-only at "+vmrun.PwdGuestDir+" and start the test there")
	fs.StringVar(&f.warnings, "warnings", "", "a build that adds compiler warnings: warn, or fail the commit ("+"`policy`"+") "+keyNote("rapido.warnings"))
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "print only the verdict, no progress")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "stream make's output instead of the progress line")
}

// host is what the run may use of this terminal: progress on stderr (none
// with --quiet), make's own output with --verbose.
func (f *testFlags) host(env *Env) vmrun.Host {
	h := vmrun.Host{Exec: env.Runner, Git: cliGit{env.Runner}, Progress: env.Stderr, Terminal: IsTerminal(env.Stderr), Verbose: f.verbose}
	if f.quiet {
		h.Progress, h.Terminal, h.Verbose = io.Discard, false, false
	}
	return h
}

// settings pairs each value flag with the key it overrides: both go
// through the key's one check (vmrun.Spec.Set), so "--accel foo" and
// "rapido.accel = foo" are refused alike.
func (f *testFlags) settings() []flagSetting {
	return []flagSetting{
		{"--timeout", "rapido.timeout", f.timeout},
		{"--boot-timeout", "rapido.bootTimeout", f.bootTimeout},
		{"--accel", "rapido.accel", f.accel},
		{"--memory", "rapido.memory", f.memory},
		{"--cpus", "rapido.cpus", f.cpus},
		{"--net", "rapido.net.mode", f.net},
		{"--warnings", "rapido.warnings", f.warnings},
	}
}

type flagSetting struct{ flag, key, value string }

// Check refuses a bad flag value before anything runs (rebase checks the
// flags it puts on its exec lines).
func (f *testFlags) Check() error {
	var scratch vmrun.Spec
	return f.apply(&scratch)
}

// apply puts the given value flags into s.
func (f *testFlags) apply(s *vmrun.Spec) error {
	for _, fs := range f.settings() {
		if fs.value == "" {
			continue
		}
		if err := s.Set(fs.key, fs.value); err != nil {
			return Usagef("%s: %v", fs.flag, err)
		}
	}
	return nil
}

// testFlagNames lists the shared flags, for commands that forward them
// (rebase puts them on its exec lines).
func (f *testFlags) Args() []string {
	var a []string
	add := func(name, v string) {
		if v != "" {
			a = append(a, "--"+name+"="+v)
		}
	}
	add("cut", f.cut)
	add("manifest", f.manifest)
	add("script", f.script)
	add("timeout", f.timeout)
	add("boot-timeout", f.bootTimeout)
	add("accel", f.accel)
	add("memory", f.memory)
	add("cpus", f.cpus)
	add("append", f.kappend)
	add("build-dir", f.buildDir)
	add("net", f.net)
	for _, sh := range f.shares {
		add("share", sh)
	}
	if f.pwd {
		a = append(a, "--pwd")
	}
	add("warnings", f.warnings)
	if f.quiet {
		a = append(a, "--quiet")
	}
	if f.verbose {
		a = append(a, "--verbose")
	}
	return a
}

// execDir is where an exec line of rebase --test must run its test: git
// runs exec lines at the worktree's top, while --pwd shares the directory
// the command was started from. "" when the top will do.
func (f *testFlags) execDir() (string, error) {
	if !f.pwd {
		return "", nil
	}
	return os.Getwd()
}

// repoPaths returns the worktree top and its per-worktree rapido directory.
func repoPaths(ctx context.Context, env *Env) (top, rapidoDir string, err error) {
	// --git-path is relative to the current directory, which may be a
	// subdirectory of the worktree: ask for it absolute.
	out, err := env.Runner.Git(ctx, "rev-parse", "--show-toplevel", "--path-format=absolute", "--git-path", "rapido")
	if err != nil {
		return "", "", fmt.Errorf("not in a git work tree (git rapido tests the kernel tree you are in): %w", err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("git rev-parse: unexpected output %q", out)
	}
	top, rapidoDir = lines[0], lines[1]
	if !filepath.IsAbs(rapidoDir) {
		rapidoDir = filepath.Join(top, rapidoDir)
	}
	return top, rapidoDir, nil
}

// Spec builds the run's Spec from git config, the flags and the operands
// (a test command after "--").
func (f *testFlags) Spec(ctx context.Context, env *Env, args []string) (*vmrun.Spec, error) {
	var command []string
	if env.DashAt >= 0 {
		command = append([]string(nil), args[env.DashAt:]...)
		args = args[:env.DashAt]
	}
	if len(args) > 0 {
		return nil, Usagef("unexpected argument %q (a test command goes after --)", args[0])
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	if f.script != "" && len(command) > 0 {
		return nil, Usagef("--script and -- <cmd> are mutually exclusive")
	}
	if f.cut != "" && f.manifest != "" {
		return nil, Usagef("--cut and --manifest are mutually exclusive")
	}
	top, rapidoDir, err := repoPaths(ctx, env)
	if err != nil {
		return nil, err
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	s, err := vmrun.SpecFromConfig(cfg, top, rapidoDir)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	s.Cut.Lookup = cfg.Get // the cut manifest's config directive
	if f.cut != "" {
		s.Cut.Name = f.cut
	}
	if f.manifest != "" {
		if s.Cut.Manifest, err = filepath.Abs(f.manifest); err != nil {
			return nil, err
		}
	}
	if f.script != "" {
		if s.Cut.Script, err = filepath.Abs(f.script); err != nil {
			return nil, err
		}
		if _, err := os.Stat(s.Cut.Script); err != nil {
			return nil, Usagef("--script: %v", err)
		}
	}
	s.Cut.Command = command
	if err := f.addShares(s); err != nil {
		return nil, err
	}
	if err := f.apply(s); err != nil {
		return nil, err
	}
	s.Cut.Timeout = s.Timeout
	if f.kappend != "" {
		s.QEMU.KernelArgs = append(s.QEMU.KernelArgs, strings.Fields(f.kappend)...)
	}
	if f.buildDir != "" {
		if s.Build.BuildDir, err = filepath.Abs(f.buildDir); err != nil {
			return nil, err
		}
	}
	s.NoBuild = f.noBuild
	if head, err := env.Runner.Git(ctx, "rev-parse", "--short=12", "HEAD"); err == nil {
		s.Label = head
	}
	return s, nil
}

// addShares puts --share and --pwd into s. A share that cannot be served
// (missing, not a directory, unreadable) or is misspelt is refused here,
// before anything is built or started, in one line: the full usage would
// bury the fix.
func (f *testFlags) addShares(s *vmrun.Spec) error {
	if len(f.shares) == 0 && !f.pwd {
		return nil
	}
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("--share: read the current directory: %w", err)
	}
	for _, v := range f.shares {
		sh, err := vmrun.ParseShare(v, cwd)
		if err != nil {
			return fmt.Errorf("--share: %w", err)
		}
		s.Cut.Shares = append(s.Cut.Shares, sh)
	}
	if f.pwd {
		sh, err := vmrun.PwdShare(cwd)
		if err != nil {
			return fmt.Errorf("--pwd: %w", err)
		}
		s.Cut.Shares = append(s.Cut.Shares, sh)
		s.Cut.Workdir = sh.Guest
	}
	return nil
}
