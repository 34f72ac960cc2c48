package vmrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/git-rapido/git-rapido/vmrun/internal/console"
	"github.com/git-rapido/git-rapido/vmrun/internal/cut"
	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// Spec is everything that decides one run: what to build, what image to cut,
// how to boot it, and how long to wait.
type Spec struct {
	Build BuildOptions
	Cut   CutOptions
	QEMU  QEMUOptions
	// BootTimeout bounds the time without console output before /init runs.
	BootTimeout time.Duration
	// Timeout bounds the whole boot-and-test.
	Timeout time.Duration
	// LogRoot holds one directory per run (<git-path rapido>/logs).
	LogRoot string
	// Label names the run's log directory (a short commit id).
	Label string
	// NoBuild boots the last build as it is.
	NoBuild bool
	// Interactive attaches the console to the terminal (git rapido boot).
	Interactive bool
	// Net is the VMs' network (none by default).
	Net NetOptions
	// Warnings is what a build that adds compiler warnings means: "warn"
	// (the default) reports them, "fail" fails the commit, as ktest can.
	Warnings string
}

// QEMUOptions are the VM settings.
type QEMUOptions struct {
	Binary     string // default from the architecture; RAPIDO_QEMU overrides
	Accel      string // auto (default), kvm or tcg
	Memory     string
	CPUs       int
	KernelArgs []string
	ExtraArgs  []string
	// FastBoot is rapido.fastBoot: auto boots vmlinux at its PVH entry
	// (on microvm where it can) when QEMU and the kernel allow, off never.
	FastBoot string
	// ShareTransport is rapido.shareTransport: auto (virtiofs when a
	// virtiofsd is installed, else 9p), 9p or virtiofs (virtiofs.go).
	ShareTransport string
}

// Config is the read side of git config that SpecFromConfig needs;
// *gitexec.Config satisfies it.
type Config interface {
	Get(key string) (string, bool)
	All(key string) []string
}

// SpecFromConfig fills a Spec from rapido.* configuration and the
// environment (ARCH, CROSS_COMPILE, LLVM, CC, RAPIDO_MAKE, RAPIDO_QEMU).
// top is the worktree's top directory; rapidoDir is
// "git rev-parse --git-path rapido" (per worktree). Defaults come from Keys
// and every value is checked by its Key before anything runs.
func SpecFromConfig(cfg Config, top, rapidoDir string) (*Spec, error) {
	r := &keyReader{cfg: cfg}
	s := &Spec{LogRoot: filepath.Join(rapidoDir, "logs")}
	s.Build = BuildOptions{
		SourceDir:    top,
		BuildDir:     pathValue(top, r.getOr("rapido.buildDir", filepath.Join(rapidoDir, "build"))),
		Arch:         r.get("rapido.arch"),
		CrossCompile: r.get("rapido.crossCompile"),
		LLVM:         r.get("rapido.llvm"),
		CC:           r.get("rapido.cc"),
		BaseConfig:   r.get("rapido.kernelConfig"),
		Fragments:    cfg.All("rapido.kconfig"),
		Make:         os.Getenv("RAPIDO_MAKE"),
		MakeWrapper:  strings.Fields(r.get("rapido.makeWrapper")),
		Launcher:     r.get("rapido.compilerLauncher"),
	}
	if l := s.Build.Launcher; l != "" && (len(strings.Fields(l)) != 1 || strings.ContainsFunc(l, unicode.IsControl) || strings.HasPrefix(l, "-")) {
		r.fail(fmt.Errorf("rapido.compilerLauncher: want one program (icecc, distcc or a path to one), got %q", l))
	}
	if s.Build.Make == "" {
		s.Build.Make = "make"
	}
	if s.Build.Arch == "x86" {
		s.Build.Arch = "x86_64"
	}
	for i, f := range s.Build.Fragments {
		if !strings.HasPrefix(f, "CONFIG_") && !strings.HasPrefix(f, "# CONFIG_") {
			s.Build.Fragments[i] = pathValue(top, f)
		}
	}
	if b := s.Build.BaseConfig; !IsConfigTarget(b) {
		s.Build.BaseConfig = pathValue(top, b)
	}
	if r.err != nil {
		return nil, r.err
	}
	arch, err := kbuild.ArchOf(s.Build.Arch)
	if err != nil {
		return nil, err
	}
	// A guest of another architecture is built with Debian's cross
	// compiler unless the configuration names a toolchain.
	if b := &s.Build; kbuild.Foreign(b.Arch) && b.CrossCompile == "" && b.LLVM == "" && b.CC == "" {
		b.CrossCompile = arch.CrossCompile
	}
	s.QEMU = QEMUOptions{
		Binary:     r.getOr("rapido.qemu", arch.QEMU),
		KernelArgs: strings.Fields(r.get("rapido.kernelArgs")),
		ExtraArgs:  strings.Fields(r.get("rapido.qemuExtraArgs")),
	}
	r.set(s, "rapido.jobs", strconv.Itoa(runtime.NumCPU()))
	if _, set := cfg.Get("rapido.jobs"); !set && s.Build.Launcher != "" {
		s.Build.Jobs = 0 // the launcher's cluster decides (kbuild.LauncherJobs)
	}
	for _, k := range []string{"rapido.accel", "rapido.memory", "rapido.cpus", "rapido.bootTimeout", "rapido.timeout", "rapido.warnings", "rapido.fastBoot", "rapido.shareTransport"} {
		r.set(s, k, "")
	}
	s.Cut.Name = r.get("rapido.cut")
	// RAPIDO_INIT names another static binary to install as /init: the
	// hermetic tests use it because a test binary need not be static.
	s.Cut.InitBinary = os.Getenv("RAPIDO_INIT")
	s.Cut.Arch = s.Build.Arch
	if v := r.get("rapido.sysroot"); v != "" {
		s.Cut.Sysroot = pathValue(top, v)
	}
	s.Cut.SearchPath = CutSearchPath(cfg, top)
	s.Net = netFromConfig(r)
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// keyReader reads single-valued keys for SpecFromConfig: the key's
// environment variable, else git config, else the default from Keys. Each
// value read is checked by its Key; the first bad one is kept in err, named
// by where it came from.
type keyReader struct {
	cfg Config
	err error
}

func (r *keyReader) get(name string) string { return r.getOr(name, key(name).Default) }

// getOr is get with a default computed by the caller (Key.DefaultDoc).
func (r *keyReader) getOr(name, def string) string {
	k := key(name)
	v, from := "", k.Name
	if k.Env != "" {
		v, from = os.Getenv(k.Env), k.Env
	}
	if v == "" {
		v, _ = r.cfg.Get(k.Name)
		from = k.Name
	}
	if v == "" {
		return def
	}
	if err := k.Check(v); err != nil {
		r.fail(fmt.Errorf("%s: %w", from, err))
	}
	return v
}

// set reads the key (def: a computed default) and puts it into s through
// Spec.Set, as a flag would.
func (r *keyReader) set(s *Spec, name, def string) {
	if def == "" {
		def = key(name).Default
	}
	v := r.getOr(name, def)
	if r.err != nil {
		return
	}
	if err := s.Set(name, v); err != nil {
		r.fail(fmt.Errorf("%s: %w", name, err))
	}
}

func (r *keyReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// pathValue reads a path-valued key as git does for pathnames ("~/" is the
// home directory) and makes a relative path relative to the worktree top,
// not to wherever git rapido happens to run.
func pathValue(top, p string) string {
	home, _ := os.UserHomeDir()
	return ResolvePath(top, p, home)
}

// CutSearchPath is where cuts are found by name: the directories of
// rapido.cutPath (multi-valued, each value a list like $PATH, read as
// path-valued keys), then the worktree's .rapido/cuts. run, test and cut
// all search it, so a cut found by one is found by the others.
func CutSearchPath(cfg Config, top string) []string {
	var dirs []string
	for _, v := range cfg.All("rapido.cutPath") {
		for _, d := range filepath.SplitList(v) {
			dirs = append(dirs, pathValue(top, d))
		}
	}
	return append(dirs, filepath.Join(top, ".rapido", "cuts"))
}

// ParseDuration accepts Go durations ("90s", "5m") and plain seconds ("90").
func ParseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("want a duration like 90s or 5m, got %q", v)
	}
	return d, nil
}

// Host is what a run may use of the machine.
type Host struct {
	Exec     Execer
	Progress io.Writer // phase lines and the live build line
	Terminal bool
	Verbose  bool // stream make's output instead of the live build line
	// Git, when set, lets the build reuse the last build's kernel when
	// none of its inputs changed; Tree is the worktree's tree when the
	// caller has read it (else the build reads it).
	Git  Git
	Tree string
	// Built, when set, is called once the kernel is built (its sources
	// have been read), before the cut and the boot. The Tester checks
	// then, next to the boot, that the worktree still holds the code it
	// started with.
	Built func()
	// Reread, when set, is that check's answer (the worktree's tree read
	// once make is done): the build's record takes it rather than
	// reading the worktree a second time.
	Reread func(context.Context) (string, error)
}

// Run builds, cuts, boots and classifies. The error is non-nil only when ctx
// was cancelled; every other outcome, infrastructure trouble included, is a
// Verdict.
func Run(ctx context.Context, s *Spec, h Host) (*Verdict, error) {
	p, err := NewPlan(s, h.Exec)
	if err != nil {
		return infra(&Verdict{Started: time.Now()}, err), nil
	}
	return RunPlan(ctx, p, h)
}

// RunPlan executes a plan: Run without resolving the spec again. It builds,
// cuts, and hands a one-VM image to bootOne and a multi-VM one to runVMs;
// verdict.json is written on every way out, so a failed run still leaves
// its record in the log directory.
func RunPlan(ctx context.Context, p *Plan, h Host) (*Verdict, error) {
	b, err := BuildPlan(ctx, p, h, false)
	if err != nil || b.Done() {
		return b.v, err
	}
	return b.Boot(ctx)
}

// Built is a run whose kernel is built and whose image is cut: what is left
// is the boot. A series pipelines its runs at this seam: while one commit
// boots, the next one builds.
type Built struct {
	p     *Plan
	h     Host
	bo    BuildOptions
	v     *Verdict
	br    *BuildResult
	cp    *cut.Plan
	image string
	start time.Time
	busy  time.Duration // build and cut: the run's duration leaves out the wait for the boot
	done  bool
}

// Done reports whether the run ended before its boot (a build failure,
// infrastructure trouble): Verdict is then the run's verdict.
func (b *Built) Done() bool { return b.done }

// Verdict is the run's verdict so far.
func (b *Built) Verdict() *Verdict { return b.v }

// BuildPlan runs a plan's build and cut. With detach, the kernel image is
// copied into the run's log directory, so the build directory can build
// the next commit while this one boots. The error is non-nil only when ctx
// was cancelled (b is then Done).
func BuildPlan(ctx context.Context, p *Plan, h Host, detach bool) (*Built, error) {
	s := p.spec
	b := &Built{p: p, h: h, start: time.Now(), done: true}
	b.v = &Verdict{Started: b.start}
	v := b.v
	if err := newRunDir(s, v); err != nil {
		return b, b.finish(infra(v, err), nil)
	}
	progress := h.Progress
	if progress == nil {
		progress = io.Discard
	}

	// Build.
	bo := p.build
	bo.LogDir, bo.Progress, bo.Terminal, bo.Exec, bo.Verbose = v.LogDir, progress, h.Terminal, h.Exec, h.Verbose
	bo.Git, bo.Tree, bo.Reread = h.Git, h.Tree, h.Reread
	// A boot of vmlinux needs no compressed image: make leaves it out.
	// Not in a series' slot (detach), whose next build may replace the
	// build directory before a fallback boot could make the image.
	if !detach && p.bootsVmlinux() {
		bo.VmlinuxIf = "CONFIG_PVH"
	}
	b.bo = bo
	br, err := buildKernel(ctx, p, bo, v)
	if br == nil {
		return b, b.finish(v, err)
	}
	defer br.Wait()
	v.KernelRelease = br.KernelRelease
	if h.Built != nil {
		h.Built()
	}

	// Cut.
	cp, image, err := cutImage(p, br, v)
	if err != nil {
		return b, b.finish(infra(v, err), nil)
	}
	if detach {
		kernel := filepath.Join(v.LogDir, filepath.Base(br.KernelImage))
		if err := copyKernel(br.KernelImage, kernel); err != nil {
			return b, b.finish(infra(v, fmt.Errorf("keep the kernel for the boot: %w", err)), nil)
		}
		c := *br
		c.KernelImage = kernel
		// The fast boot reads vmlinux at its start (and again on a
		// retry): this commit's, not the one the next build links.
		if p.bootsVmlinux() {
			c.Vmlinux = filepath.Join(v.LogDir, "vmlinux")
			if err := copyKernel(filepath.Join(p.build.BuildDir, "vmlinux"), c.Vmlinux); err != nil {
				return b, b.finish(infra(v, fmt.Errorf("keep vmlinux for the boot: %w", err)), nil)
			}
		}
		br = &c
	}
	b.br, b.cp, b.image, b.done = br, cp, image, false
	b.busy = time.Since(b.start)
	return b, nil
}

// Boot boots the built kernel and classifies the outcome.
func (b *Built) Boot(ctx context.Context) (*Verdict, error) {
	if b.done {
		return b.v, nil
	}
	b.done = true
	t := time.Now()
	progress := b.bo.Progress
	var v *Verdict
	var err error
	if b.cp.VMs > 1 {
		// Several VMs boot the compressed image.
		if _, err := b.br.Image(ctx); err != nil {
			if ctx.Err() != nil {
				return b.v, b.finish(b.v, ctx.Err())
			}
			return b.v, b.finish(infra(b.v, err), nil)
		}
		v, err = runVMs(ctx, b.p.spec, b.v, b.cp.VMs, b.cp.VerdictFrom, b.br, b.image, progress, tracer(b.h.Exec))
	} else {
		v, err = bootOne(ctx, b.p, b.h, b.bo, &b.cp.Host, b.br, b.image, b.v)
	}
	if b.br.Vmlinux != "" {
		// A slot's copy of vmlinux served this boot only; at 13 MB and
		// more a commit, a long series would fill the disk with them.
		os.Remove(b.br.Vmlinux)
	}
	b.busy += time.Since(t)
	return v, b.finish(v, err)
}

// finish writes verdict.json, the run's record in its log directory.
func (b *Built) finish(v *Verdict, err error) error {
	if b.busy == 0 {
		b.busy = time.Since(b.start)
	}
	v.Duration = b.busy
	if v.LogDir != "" {
		j, _ := json.MarshalIndent(v, "", "  ")
		os.WriteFile(filepath.Join(v.LogDir, "verdict.json"), append(j, '\n'), 0o644)
	}
	return err
}

func copyKernel(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// bootOne boots the single VM of a run, with the cut's host hooks around
// it, and classifies the outcome into v. bo.Progress is the run's progress
// writer.
func bootOne(ctx context.Context, p *Plan, h Host, bo BuildOptions, ch *cut.Host, br *BuildResult, image string, v *Verdict) (*Verdict, error) {
	s, progress := p.spec, bo.Progress
	qc, err := p.qemuConfig(br.KernelImage, image, v.LogDir)
	if err != nil {
		return infra(v, err), nil
	}
	qc.Trace = tracer(h.Exec)
	accel, note := resolveAccel(s.QEMU.Accel, s.QEMU.Binary, s.Build.Arch)
	if note != "" {
		fmt.Fprintln(progress, note)
	}
	vfs, notes, err := p.planVirtiofs(&qc, false)
	if err != nil {
		return infra(v, err), nil
	}
	for _, n := range notes {
		fmt.Fprintln(progress, "boot: "+n)
	}
	v.ShareTransport = transportName(qc.Shares)
	hooks, err := startCutHost(ctx, ch, &qc, bo, v.LogDir, progress)
	if err != nil {
		vfs.stop()
		return infra(v, fmt.Errorf("cut: %w", err)), nil
	}
	defer hooks.cleanup()
	if vfs != nil {
		vfs.logDir, vfs.trace = v.LogDir, tracer(h.Exec)
	}
	// Cleanup removes the daemons' socket directory, also when the
	// image cannot be made below.
	hooks.virtiofs = vfs
	boots := p.bootConfigs(qc, br.Vmlinux)
	// The classic boot takes the compressed image: made now when it is
	// the only way (the fast path is not usable after all), else only
	// when the fast boot is refused (watchFallingBack).
	classic := &boots[len(boots)-1]
	prepare := func(ctx context.Context) error {
		if !br.VmlinuxOnly {
			return nil
		}
		img, err := br.Image(ctx)
		classic.Kernel = img
		return err
	}
	if len(boots) == 1 {
		if err := prepare(ctx); err != nil {
			if ctx.Err() != nil {
				return v, ctx.Err()
			}
			return infra(v, err), nil
		}
	}
	// The share daemons start last, next to QEMU (storage.go's do too).
	if err := vfs.start(ctx); err != nil {
		return infra(v, err), nil
	}
	if s.Interactive {
		qc = boots[0]
		qc.Accel = accel
		return v, hooks.boot(ctx, s, qc)
	}
	fmt.Fprintf(progress, "boot: %s (%s%s)\n", filepath.Base(boots[0].Kernel), accel, bootNote(len(boots)))
	out, accel, err := watchProbingKVM(ctx, s, hooks, boots, accel, progress, prepare)
	var ie imageError
	if errors.As(err, &ie) && ctx.Err() == nil {
		return infra(v, ie.err), nil
	}
	if err != nil {
		return v, err
	}
	v.Accel, v.Boot = accel, out.boot
	classify(v, out)
	hooks.judge(v)
	out.setTimings(&v.Timings)
	return v, nil
}

// bootNote names the fast boot path in the boot line when it is taken.
func bootNote(boots int) string {
	if boots > 1 {
		return ", fast boot"
	}
	return ""
}

// watchProbingKVM boots and watches under accel and, when "auto" chose KVM,
// learns from the boot whether KVM works on this host: a guest that made
// no progress under KVM is booted again under TCG, and either answer is
// remembered so later runs do not probe again. It returns the accelerator
// the outcome was produced with.
func watchProbingKVM(ctx context.Context, s *Spec, hooks *cutHostRun, boots []qemu.Config, accel string, progress io.Writer, prepare func(context.Context) error) (*bootOutcome, string, error) {
	out, err := watchFallingBack(ctx, s, hooks, boots, accel, progress, prepare)
	if err != nil || accel != "kvm" || s.QEMU.Accel != "auto" {
		return out, accel, err
	}
	why := kvmFailure(out)
	if why == "" {
		if out.initSeen {
			rememberAccel(s.QEMU.Binary, true, "")
		}
		return out, accel, nil
	}
	fmt.Fprintf(progress, "boot: %s; falling back to TCG\n", why)
	os.Remove(boots[0].ConsoleLog)
	os.Remove(boots[0].VerdictPath)
	if out, err = watchFallingBack(ctx, s, hooks, boots, "tcg", progress, prepare); err != nil {
		return out, "tcg", err
	}
	// Remembered only when QEMU ran under TCG: a QEMU that fails under
	// both (a bad kernel path, a bad argument) says nothing about KVM.
	if out.qemuErr == nil {
		rememberAccel(s.QEMU.Binary, false, why)
		fmt.Fprintln(progress, "boot: TCG remembered for this QEMU (rm "+accelFile()+" to probe KVM again)")
	}
	return out, "tcg", nil
}

// watchFallingBack boots with the first of boots (the fast path, then
// QEMU's defaults) and goes on to the next while QEMU refuses one before
// the guest printed anything: a QEMU or kernel that lacks what the fast
// path needs gets today's command line rather than a failed run.
//
// prepare readies the last (classic) boot before it is tried after a
// refused fast boot: it makes the compressed image of a vmlinux-only
// build; its failure is an imageError.
func watchFallingBack(ctx context.Context, s *Spec, hooks *cutHostRun, boots []qemu.Config, accel string, progress io.Writer, prepare func(context.Context) error) (*bootOutcome, error) {
	for i := range boots {
		if i > 0 && i == len(boots)-1 {
			if err := prepare(ctx); err != nil {
				return nil, imageError{err}
			}
		}
		out, err := hooks.watch(ctx, s, boots[i], accel)
		if out != nil {
			out.boot = qemu.BootClassic
			if i < len(boots)-1 {
				out.boot = qemu.BootFast
			}
		}
		if err != nil || i == len(boots)-1 || !refused(out) {
			return out, err
		}
		fmt.Fprintf(progress, "boot: fast boot failed (%s); booting with QEMU's defaults (rapido.fastBoot=off skips the attempt)\n", refusal(out))
		os.Remove(boots[i].ConsoleLog)
		os.Remove(boots[i].VerdictPath)
	}
	panic("unreachable")
}

// imageError is a compressed image that could not be made for a classic
// boot after a refused fast boot: the run cannot test (infrastructure).
type imageError struct{ err error }

func (e imageError) Error() string { return e.err.Error() }

// refused says whether QEMU exited with an error before the guest wrote
// a byte to the console: its command line, not the kernel, failed.
func refused(out *bootOutcome) bool {
	return out.qemuErr != nil && out.consoleBytes == 0 && out.timedOut == ""
}

func refusal(out *bootOutcome) string {
	if msg := firstLine(out.qemuStderr); msg != "" {
		return msg
	}
	return out.qemuErr.Error()
}

// kvmFailure says why a boot under auto-detected KVM shows that KVM does
// not work on this host, or "" when it worked (or failed for another
// reason). The guest made no progress at all (hosts whose KVM is not real
// hardware virtualisation hang), or QEMU died before the guest reached
// /init (hosts whose KVM lacks what QEMU needs abort with "failed to set
// MSR").
func kvmFailure(out *bootOutcome) string {
	switch {
	case out.noProgress:
		return "no progress under KVM"
	case out.qemuErr != nil && !out.initSeen:
		msg := firstLine(out.qemuStderr)
		if msg == "" {
			msg = out.qemuErr.Error()
		}
		return "QEMU failed under KVM (" + msg + ")"
	}
	return ""
}

// newRunDir makes the run's log directory: unique per run, sortable by
// time, even for two runs of the same commit in the same second.
func newRunDir(s *Spec, v *Verdict) error {
	label := s.Label
	if label == "" {
		label = "run"
	}
	if err := os.MkdirAll(s.LogRoot, 0o755); err != nil {
		return fmt.Errorf("create log dir: %w", err)
	}
	dir, err := os.MkdirTemp(s.LogRoot, v.Started.UTC().Format("20060102-150405")+"-"+label+"-")
	if err != nil {
		return fmt.Errorf("create log dir: %w", err)
	}
	os.Chmod(dir, 0o755)
	v.LogDir = dir
	return nil
}

// buildKernel builds the plan's kernel, or with NoBuild finds the last
// build. A nil result means the run ends here with v as its verdict (and
// the error when ctx was cancelled).
func buildKernel(ctx context.Context, p *Plan, bo BuildOptions, v *Verdict) (*BuildResult, error) {
	if p.spec.NoBuild {
		br := &BuildResult{KernelImage: p.kernelImage()}
		vmlinux := filepath.Join(bo.BuildDir, "vmlinux")
		if kbuild.Newer(vmlinux, br.KernelImage) {
			// The last build made vmlinux only: the image is stale.
			br.KernelImage, br.VmlinuxOnly = vmlinux, true
		}
		if _, err := os.Stat(br.KernelImage); err != nil {
			infra(v, fmt.Errorf("--no-build: no kernel built yet in %s", bo.BuildDir))
			return nil, nil
		}
		rel, _ := os.ReadFile(filepath.Join(bo.BuildDir, "include/config/kernel.release"))
		br.KernelRelease = strings.TrimSpace(string(rel))
		if m := filepath.Join(bo.BuildDir, "rapido-modules"); dirExists(m) {
			br.ModulesDir = m
		}
		return br, nil
	}
	t := time.Now()
	br, err := Build(ctx, bo)
	v.Timings.Build = time.Since(t)
	var be *BuildError
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &be):
		v.Status, v.Excerpt = BuildFail, be.Excerpt
		v.Reason = "build failed"
		if len(be.Excerpt) > 0 {
			v.Reason = be.Excerpt[0]
		}
		return nil, nil
	case err != nil:
		infra(v, err)
		return nil, nil
	}
	for _, w := range br.Warnings {
		fmt.Fprintf(bo.Progress, "warning: %s\n", w)
	}
	if br.Skipped {
		v.BuildNote = SkipNote
	}
	v.NewWarnings = len(br.NewWarnings)
	if n := len(br.NewWarnings); n > 0 {
		fmt.Fprintf(bo.Progress, "build: %d new compiler %s:\n", n, plural(n, "warning"))
		for _, w := range br.NewWarnings {
			fmt.Fprintf(bo.Progress, "  %s\n", w)
		}
		if p.spec.Warnings == WarningsFail {
			v.Status, v.Excerpt = Fail, br.NewWarnings
			v.Reason = fmt.Sprintf("the build added %d compiler %s (--warnings=fail): %s", n, plural(n, "warning"), br.NewWarnings[0])
			return nil, nil
		}
	}
	return br, nil
}

// cutImage completes the plan's cut with the built kernel's modules and
// writes the image (or finds it in the image cache).
func cutImage(p *Plan, br *BuildResult, v *Verdict) (*cut.Plan, string, error) {
	t := time.Now()
	defer func() { v.Timings.Cut = time.Since(t) }()
	cp, err := p.cut.WithModules(br.ModulesDir, br.KernelRelease)
	if err != nil {
		return nil, "", fmt.Errorf("cut: %w", err)
	}
	image, _, err := cp.Image.WriteCached(p.cacheDir)
	if err != nil {
		return nil, "", fmt.Errorf("cut: %w", err)
	}
	return cp, image, nil
}

func dirExists(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }

func infra(v *Verdict, err error) *Verdict {
	v.Status, v.Reason = Infra, err.Error()
	return v
}

func accelFile() string { return filepath.Join(CacheHome(), "accel.json") }

// resolveAccel turns auto into kvm or tcg using what was learned before.
// A guest of another architecture than the host's is emulated: KVM runs
// only guests of the host's own.
func resolveAccel(want, binary, arch string) (string, string) {
	switch want {
	case "kvm", "tcg":
		return want, ""
	}
	if kbuild.Foreign(arch) || !kvmUsable() {
		return "tcg", ""
	}
	if f, ok := qemu.LoadFinding(accelFile(), qemu.FindingKey(binary)); ok {
		if f.KVM {
			return "kvm", ""
		}
		return "tcg", ""
	}
	return "kvm", "boot: trying KVM (first run on this host; falls back to TCG if KVM does not work here)"
}

func rememberAccel(binary string, ok bool, reason string) {
	qemu.SaveFinding(accelFile(), qemu.FindingKey(binary), qemu.Finding{KVM: ok, Reason: reason, When: time.Now()})
}

// kvmProbeWindow is how long a KVM guest may stay silent before auto
// acceleration gives up on KVM. A working KVM guest reaches /init in well
// under a second. A variable, as kvmUsable is, only for the tests.
var kvmProbeWindow = 8 * time.Second

// kvmUsable says whether /dev/kvm can be used at all.
var kvmUsable = qemu.KVMUsable

type bootOutcome struct {
	events     []console.Event
	guest      []guest.Event
	qemuErr    error
	qemuStderr string
	timedOut   string // why the host stopped the VM
	noProgress bool   // nothing at all on the console (KVM probe)
	initSeen   bool
	// initWall is the host's time from QEMU's start to /init's first
	// console line (zero when it never came).
	initWall     time.Duration
	consoleBytes int64 // what the console log held at the end
	wall         time.Duration
	consoleLog   string
	boot         string // qemu.BootFast or qemu.BootClassic
}

func (o *bootOutcome) event(name string) (guest.Event, bool) {
	for _, e := range o.guest {
		if e.Event == name {
			return e, true
		}
	}
	return guest.Event{}, false
}

// setTimings splits the boot into its phases. The guest's events carry
// its uptime; the host's time to /init's console line, less the guest's
// uptime then, is what passed before the kernel's clock started (QEMU,
// firmware, decompression), and the rest of the wall time after the
// result is the shutdown.
func (o *bootOutcome) setTimings(t *Timings) {
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	ie, ok1 := o.event("init")
	ts, ok2 := o.event("test-start")
	re, ok3 := o.event("result")
	if !ok1 {
		t.KernelBoot = o.wall
		return
	}
	t.KernelBoot = ms(ie.UptimeMS)
	if o.initWall > t.KernelBoot {
		t.Firmware = o.initWall - t.KernelBoot
	}
	if ok2 {
		t.Init = ms(ts.UptimeMS - ie.UptimeMS)
	}
	if ok2 && ok3 {
		t.Test = ms(re.UptimeMS - ts.UptimeMS)
	}
	if ok3 {
		t.Shutdown = o.wall - t.Firmware - ms(re.UptimeMS)
		if t.Shutdown < 0 {
			t.Shutdown = 0
		}
	}
}

// resetRunFiles creates (or empties) the console log and the verdict file
// QEMU writes to. It runs before anything that may read them starts: a
// cut's host hook is started before QEMU and may look at $RAPIDO_CONSOLE at
// once.
func resetRunFiles(qc qemu.Config) error {
	for _, f := range []string{qc.ConsoleLog, qc.VerdictPath} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return fmt.Errorf("boot: %w", err)
		}
	}
	return nil
}

// bootAndWatch runs QEMU, follows the console log, enforces the timeouts,
// and collects what the guest and the kernel said. A QEMU that does not
// start is an outcome (qemuErr), not an error: classify reports it.
func bootAndWatch(ctx context.Context, s *Spec, qc qemu.Config, accel string) (*bootOutcome, error) {
	qc.Accel = accel
	out := &bootOutcome{consoleLog: qc.ConsoleLog}
	if err := resetRunFiles(qc); err != nil {
		return nil, err
	}
	args := qemu.BuildArgs(qc)
	// qemu.cmd lets a user rerun the exact boot by hand.
	os.WriteFile(filepath.Join(filepath.Dir(qc.ConsoleLog), "qemu.cmd"),
		[]byte(qc.Binary+" "+strings.Join(args, " ")+"\n"), 0o644)
	errPath := filepath.Join(filepath.Dir(qc.ConsoleLog), "qemu.stderr")
	traceQEMU(qc, args)
	p, err := qemu.StartLogged(qc.Binary, args, errPath)
	if err != nil {
		out.qemuErr = err
		return out, nil
	}
	start := time.Now()
	defer p.Kill()

	c := &consoleFollower{path: qc.ConsoleLog, out: out, start: start, lastProgress: start}
	if done, err := watch(ctx, s, p, accel, start, c); done {
		return out, err
	}
	out.wall = time.Since(start)
	c.read()
	c.finish()
	out.consoleBytes = c.offset
	if f, err := os.Open(qc.VerdictPath); err == nil {
		out.guest, _ = guest.ParseEvents(f)
		f.Close()
	}
	if out.timedOut == "" {
		out.qemuErr = p.Err()
		if b, _ := os.ReadFile(errPath); len(b) > 0 {
			out.qemuStderr = strings.TrimSpace(string(b))
		}
	}
	return out, nil
}

// consoleFollower reads the console log as QEMU appends to it, feeding
// complete lines to the console scanner and noting when /init ran.
type consoleFollower struct {
	path         string
	out          *bootOutcome
	sc           console.Scanner
	offset       int64  // bytes of the log read so far
	partial      []byte // the last line, until its newline arrives
	start        time.Time
	lastProgress time.Time
}

// read takes whatever the log gained since the last read. A log that
// cannot be opened yet is simply not read: QEMU may not have written it.
func (c *consoleFollower) read() {
	f, err := os.Open(c.path)
	if err != nil {
		return
	}
	defer f.Close()
	f.Seek(c.offset, io.SeekStart)
	b, _ := io.ReadAll(f)
	if len(b) == 0 {
		return
	}
	c.offset += int64(len(b))
	c.lastProgress = time.Now()
	c.partial = append(c.partial, b...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		line := string(c.partial[:i])
		c.partial = c.partial[i+1:]
		c.sc.Line(line)
		if strings.TrimSpace(line) == guest.ConsoleInitLine && !c.out.initSeen {
			c.out.initSeen = true
			c.out.initWall = c.lastProgress.Sub(c.start)
		}
	}
}

// finish hands the scanner a last line without its newline (QEMU killed
// mid-line) and stores the kernel's events.
func (c *consoleFollower) finish() {
	if len(c.partial) > 0 {
		c.sc.Line(string(c.partial))
	}
	c.out.events = c.sc.Finish()
}

// watch follows the console until QEMU exits or a timeout stops it. done
// says the outcome is final as it stands (interrupted, with ctx's error, or
// a KVM probe that saw nothing); otherwise the caller collects the logs.
func watch(ctx context.Context, s *Spec, p *qemu.Process, accel string, start time.Time, c *consoleFollower) (done bool, err error) {
	// Until /init's first line the console is read often: the time it
	// is seen splits the boot into firmware and kernel (Timings).
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	slow := false
	// The guest enforces the test timeout itself and reports the output
	// tail; the host deadline adds the boot allowance on top as a backstop.
	deadline := start.Add(s.Timeout + s.BootTimeout)
	for {
		select {
		case <-p.Done():
			return false, nil
		case <-ctx.Done():
			p.Kill()
			return true, ctx.Err()
		case now := <-tick.C:
			c.read()
			if c.out.initSeen && !slow {
				tick.Reset(50 * time.Millisecond)
				slow = true
			}
			// Until the first console byte of a KVM probe, the probe
			// window alone judges: a shorter boot timeout (or overall
			// timeout) would call a host's broken KVM a kernel hang
			// instead of falling back to TCG.
			probing := accel == "kvm" && s.QEMU.Accel == "auto" && c.offset == 0
			switch {
			case probing && now.Sub(start) > kvmProbeWindow:
				c.out.noProgress = true
				p.Kill()
				return true, nil
			case !probing && !c.out.initSeen && s.BootTimeout > 0 && now.Sub(c.lastProgress) > s.BootTimeout:
				c.out.timedOut = fmt.Sprintf("no console output for %s before /init ran (boot timeout)", s.BootTimeout)
				p.Kill()
				return false, nil
			case !probing && s.Timeout > 0 && now.After(deadline):
				c.out.timedOut = fmt.Sprintf("the run exceeded its %s timeout", s.Timeout)
				p.Kill()
				return false, nil
			}
		}
	}
}

// classify turns what the boot produced into the verdict.
func classify(v *Verdict, o *bootOutcome) {
	if crash, ok := console.Worst(o.events); ok {
		v.Status, v.Reason, v.Excerpt = Crash, crash.Line, crash.Excerpt
		return
	}
	if o.timedOut != "" {
		v.Status, v.Reason = Hang, o.timedOut
		v.Excerpt = tailLines(o.consoleLog, 15)
		return
	}
	res, ok := o.event("result")
	if !ok {
		for _, e := range o.events {
			if e.Kind == console.Verdict {
				res, ok = guest.Event{Event: "result", ExitCode: e.ExitCode}, true
			}
		}
	}
	switch {
	case ok && res.ExitCode == 0 && res.Error == "":
		v.Status, v.Reason = Pass, "test passed"
	case ok && res.Infra:
		v.Status, v.Reason, v.Excerpt = Infra, "cannot test: "+res.Error, res.Tail
	case ok && res.Error != "":
		v.Status, v.Reason, v.Excerpt = Fail, res.Error, res.Tail
	case ok && res.TimedOut:
		v.Status, v.Reason, v.Excerpt = Fail, "test timed out inside the guest", res.Tail
	case ok && cannotStart(res):
		v.Status, v.Reason, v.Excerpt = Infra, cannotStartReason(res.ExitCode), res.Tail
	case ok:
		v.Status, v.Reason, v.Excerpt = Fail, fmt.Sprintf("test exited %d", res.ExitCode), res.Tail
		if res.Signal != "" {
			v.Reason = "test killed by " + res.Signal
		}
	case o.qemuErr != nil:
		v.Status, v.Reason = Infra, fmt.Sprintf("qemu: %v", o.qemuErr)
		if o.qemuStderr != "" {
			v.Reason += ": " + firstLine(o.qemuStderr)
			v.Excerpt = strings.Split(o.qemuStderr, "\n")
		}
	default:
		v.Status, v.Reason = Crash, "the VM stopped without a verdict (init died?)"
		v.Excerpt = tailLines(o.consoleLog, 15)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func tailLines(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// boot runs QEMU with the console on the terminal until it exits.
func boot(ctx context.Context, s *Spec, qc qemu.Config) error {
	args := qemu.BuildArgs(qc)
	traceQEMU(qc, args)
	p, err := qemu.Start(qc.Binary, args, true)
	if err != nil {
		return err
	}
	return p.Wait(ctx)
}
