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
}

// QEMUOptions are the VM settings.
type QEMUOptions struct {
	Binary     string // default from the architecture; RAPIDO_QEMU overrides
	Accel      string // auto (default), kvm or tcg
	Memory     string
	CPUs       int
	KernelArgs []string
	ExtraArgs  []string
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
	s.QEMU = QEMUOptions{
		Binary:     r.getOr("rapido.qemu", arch.QEMU),
		KernelArgs: strings.Fields(r.get("rapido.kernelArgs")),
		ExtraArgs:  strings.Fields(r.get("rapido.qemuExtraArgs")),
	}
	r.set(s, "rapido.jobs", strconv.Itoa(runtime.NumCPU()))
	for _, k := range []string{"rapido.accel", "rapido.memory", "rapido.cpus", "rapido.bootTimeout", "rapido.timeout"} {
		r.set(s, k, "")
	}
	s.Cut.Name = r.get("rapido.cut")
	// RAPIDO_INIT names another static binary to install as /init: the
	// hermetic tests use it because a test binary need not be static.
	s.Cut.InitBinary = os.Getenv("RAPIDO_INIT")
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
	s := p.spec
	start := time.Now()
	v := &Verdict{Started: start}
	if err := newRunDir(s, v); err != nil {
		return infra(v, err), nil
	}
	defer func() {
		v.Duration = time.Since(start)
		b, _ := json.MarshalIndent(v, "", "  ")
		os.WriteFile(filepath.Join(v.LogDir, "verdict.json"), append(b, '\n'), 0o644)
	}()
	progress := h.Progress
	if progress == nil {
		progress = io.Discard
	}

	// Build.
	bo := p.build
	bo.LogDir, bo.Progress, bo.Terminal, bo.Exec = v.LogDir, progress, h.Terminal, h.Exec
	bo.Git, bo.Tree = h.Git, h.Tree
	br, err := buildKernel(ctx, p, bo, v)
	if br == nil {
		return v, err
	}
	defer br.Wait()
	v.KernelRelease = br.KernelRelease
	if h.Built != nil {
		h.Built()
	}

	// Cut.
	cp, image, err := cutImage(p, br, v)
	if err != nil {
		return infra(v, err), nil
	}
	if cp.VMs > 1 {
		return runVMs(ctx, s, v, cp.VMs, cp.VerdictFrom, br, image, progress, tracer(h.Exec))
	}
	return bootOne(ctx, p, h, bo, &cp.Host, br.KernelImage, image, v)
}

// bootOne boots the single VM of a run, with the cut's host hooks around
// it, and classifies the outcome into v. bo.Progress is the run's progress
// writer.
func bootOne(ctx context.Context, p *Plan, h Host, bo BuildOptions, ch *cut.Host, kernel, image string, v *Verdict) (*Verdict, error) {
	s, progress := p.spec, bo.Progress
	qc, err := p.qemuConfig(kernel, image, v.LogDir)
	if err != nil {
		return infra(v, err), nil
	}
	qc.Trace = tracer(h.Exec)
	accel, note := resolveAccel(s.QEMU.Accel, s.QEMU.Binary)
	if note != "" {
		fmt.Fprintln(progress, note)
	}
	hooks, err := startCutHost(ctx, ch, &qc, bo, v.LogDir, progress)
	if err != nil {
		return infra(v, fmt.Errorf("cut: %w", err)), nil
	}
	defer hooks.cleanup()
	if s.Interactive {
		qc.Accel = accel
		return v, hooks.boot(ctx, s, qc)
	}
	fmt.Fprintf(progress, "boot: %s (%s)\n", filepath.Base(kernel), accel)
	out, accel, err := watchProbingKVM(ctx, s, hooks, qc, accel, progress)
	if err != nil {
		return v, err
	}
	v.Accel = accel
	classify(v, out)
	hooks.judge(v)
	v.Timings.KernelBoot, v.Timings.Init, v.Timings.Test, v.Timings.Shutdown = out.timings()
	return v, nil
}

// watchProbingKVM boots and watches under accel and, when "auto" chose KVM,
// learns from the boot whether KVM works on this host: a guest that made
// no progress under KVM is booted again under TCG, and either answer is
// remembered so later runs do not probe again. It returns the accelerator
// the outcome was produced with.
func watchProbingKVM(ctx context.Context, s *Spec, hooks *cutHostRun, qc qemu.Config, accel string, progress io.Writer) (*bootOutcome, string, error) {
	out, err := hooks.watch(ctx, s, qc, accel)
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
	os.Remove(qc.ConsoleLog)
	os.Remove(qc.VerdictPath)
	if out, err = hooks.watch(ctx, s, qc, "tcg"); err != nil {
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
func resolveAccel(want, binary string) (string, string) {
	switch want {
	case "kvm", "tcg":
		return want, ""
	}
	if !kvmUsable() {
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
	wall       time.Duration
	consoleLog string
}

func (o *bootOutcome) event(name string) (guest.Event, bool) {
	for _, e := range o.guest {
		if e.Event == name {
			return e, true
		}
	}
	return guest.Event{}, false
}

func (o *bootOutcome) timings() (kernel, init, test, shutdown time.Duration) {
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	ie, ok1 := o.event("init")
	ts, ok2 := o.event("test-start")
	re, ok3 := o.event("result")
	if !ok1 {
		return o.wall, 0, 0, 0
	}
	kernel = ms(ie.UptimeMS)
	if ok2 {
		init = ms(ts.UptimeMS - ie.UptimeMS)
	}
	if ok2 && ok3 {
		test = ms(re.UptimeMS - ts.UptimeMS)
	}
	if ok3 {
		shutdown = o.wall - ms(re.UptimeMS)
		if shutdown < 0 {
			shutdown = 0
		}
	}
	return
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

	c := &consoleFollower{path: qc.ConsoleLog, out: out, lastProgress: start}
	if done, err := watch(ctx, s, p, accel, start, c); done {
		return out, err
	}
	out.wall = time.Since(start)
	c.read()
	c.finish()
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
		if strings.TrimSpace(line) == guest.ConsoleInitLine {
			c.out.initSeen = true
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
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
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
