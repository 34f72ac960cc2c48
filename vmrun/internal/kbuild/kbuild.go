// Package kbuild configures and builds a kernel tree out of tree (O=), so
// that successive commits of a series rebuild only what changed.
package kbuild

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed fragment.config
var commonFragment string

//go:embed fragment-x86_64.config
var x86Fragment string

//go:embed fragment-arm64.config
var arm64Fragment string

// BuiltinFragment is the kconfig fragment every git rapido kernel of arch
// gets: the common part, then the architecture's console and buses.
func BuiltinFragment(arch string) string {
	a, err := ArchOf(arch)
	if err != nil {
		return commonFragment
	}
	return commonFragment + a.fragment
}

// Execer runs a prepared command (cmd injects its traced runner).
type Execer interface{ Run(*exec.Cmd) error }

// Arch holds the per-architecture facts in one place.
type Arch struct {
	Name    string // ARCH= value
	Image   string // make target and path under arch/<Name>/boot
	Console string
	QEMU    string
	// Machine is QEMU's -machine ("" = QEMU's default); CPU is the -cpu
	// model under TCG (KVM always takes "host").
	Machine, CPU string
	// ELF is the machine ELF programs for this guest are built for, and
	// GOARCH the Go toolchain's name for it (the guest init).
	ELF    elf.Machine
	GOARCH string
	// CrossCompile is the CROSS_COMPILE prefix used on a host of another
	// architecture when none is configured; the packages are what Debian
	// calls the cross compiler and the QEMU that runs this guest.
	CrossCompile, CompilerPackage, QEMUPackage string
	fragment                                   string
}

// Arches lists the supported architectures by `uname -m` style name.
var Arches = map[string]Arch{
	"x86_64": {Name: "x86", Image: "bzImage", Console: "ttyS0", QEMU: "qemu-system-x86_64",
		ELF: elf.EM_X86_64, GOARCH: "amd64", CrossCompile: "x86_64-linux-gnu-",
		CompilerPackage: "gcc-x86-64-linux-gnu", QEMUPackage: "qemu-system-x86", fragment: x86Fragment},
	// cortex-a57 rather than "max": TCG emulates pointer authentication
	// and the newest extensions of "max" slowly, and the guest needs none.
	"arm64": {Name: "arm64", Image: "Image", Console: "ttyAMA0", QEMU: "qemu-system-aarch64",
		Machine: "virt", CPU: "cortex-a57", ELF: elf.EM_AARCH64, GOARCH: "arm64", CrossCompile: "aarch64-linux-gnu-",
		CompilerPackage: "gcc-aarch64-linux-gnu", QEMUPackage: "qemu-system-arm", fragment: arm64Fragment},
}

// HostArch is the architecture git rapido runs on, by the names of Arches
// ("" when it is none of them).
func HostArch() string {
	for n, a := range Arches {
		if a.GOARCH == runtime.GOARCH {
			return n
		}
	}
	return ""
}

// Foreign reports whether a guest of arch needs a cross compiler and
// emulation (TCG) on this host.
func Foreign(arch string) bool {
	if arch == "" {
		arch = DefaultArch
	}
	return arch != HostArch()
}

// Options say what to build and how.
type Options struct {
	SourceDir, BuildDir, LogDir string
	Jobs                        int
	Arch                        string // "x86_64" (default) or "arm64"
	CrossCompile, LLVM, CC      string
	MakeWrapper                 []string
	BaseConfig                  string   // "tinyconfig" (default), "defconfig", or a file
	Fragments                   []string // files or CONFIG_X=y items
	Make                        string   // make binary
	Progress                    io.Writer
	Terminal                    bool
	Verbose                     bool // stream make's output instead of the live line
	Exec                        Execer

	// Launcher runs each compile (icecc, distcc): it goes where kbuild
	// calls the compiler, not in front of make (see MakeArgs).
	Launcher string

	// Reuse, when set, lets the build reuse the last build's kernel
	// without running make when none of its inputs changed.
	Reuse *Reuse

	// VmlinuxIf, when set (CONFIG_PVH), says the kernel will be booted as
	// vmlinux when the final .config sets this symbol: make then builds
	// vmlinux and not the compressed image (x86's objcopy, compression and
	// setup link, over a second per build), and the result says so
	// (Result.VmlinuxOnly; MakeImage makes the image after all).
	VmlinuxIf string
}

// Result describes a finished build.
type Result struct {
	KernelImage, BuildDir, ModulesDir, KernelRelease, ConfigPath, Log string
	Duration                                                          time.Duration
	Warnings                                                          []string
	Objects                                                           int
	// CompilerWarnings counts the warning lines this build emitted;
	// NewWarnings are those the build directory had not seen (warnings.go).
	CompilerWarnings int
	NewWarnings      []string
	// Skipped says make did not run: the last build's kernel is reused
	// because no input of it changed (SkipNote).
	Skipped bool
	// VmlinuxOnly says the build made vmlinux and not the compressed
	// image (Options.VmlinuxIf): KernelImage is vmlinux, and a boot that
	// needs the image gets it from MakeImage.
	VmlinuxOnly bool
	// vmlinux is vmlinux as this build left it: MakeImage makes the
	// image of this one only.
	vmlinux Stamp
	// recorded is closed once the build is recorded for later skips.
	recorded <-chan struct{}
}

// Wait waits until the build is recorded for later skips (at once for a
// build that records nothing). A process waits before it exits.
func (r *Result) Wait() {
	if r.recorded != nil {
		<-r.recorded
	}
}

// Error is a failed compile: the compiler's error lines and the log.
type Error struct {
	Log     string
	Excerpt []string
	Err     error
}

func (e *Error) Error() string {
	msg := "build failed"
	if len(e.Excerpt) > 0 {
		msg = e.Excerpt[0]
	}
	return fmt.Sprintf("build kernel: %s (log: %s)", msg, e.Log)
}
func (e *Error) Unwrap() error { return e.Err }

// ConfigError is a configuration step that failed: not the tree's fault.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "configure kernel: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// DefaultArch is the architecture built when none is named.
const DefaultArch = "x86_64"

// ArchOf returns the facts for o.Arch.
func ArchOf(name string) (Arch, error) {
	if name == "" {
		name = DefaultArch
	}
	a, ok := Arches[name]
	if !ok {
		return Arch{}, fmt.Errorf("unknown architecture %q (want x86_64 or arm64)", name)
	}
	return a, nil
}

// MakeArgs returns the common make arguments: O=, -j, ARCH, toolchain. It
// is pure so the exact command lines can be golden-tested.
func MakeArgs(o Options, ccache bool) []string {
	args := []string{"-C", o.SourceDir, "O=" + o.BuildDir}
	if o.Jobs > 0 {
		args = append(args, fmt.Sprintf("-j%d", o.Jobs))
	}
	a, _ := ArchOf(o.Arch)
	if o.Arch != "" && o.Arch != "x86_64" {
		args = append(args, "ARCH="+a.Name)
	}
	if o.CrossCompile != "" {
		args = append(args, "CROSS_COMPILE="+o.CrossCompile)
	}
	if o.LLVM != "" {
		args = append(args, "LLVM="+o.LLVM)
	}
	if cc := compilerCommand(o, ccache); cc != "" {
		args = append(args, "CC="+cc)
	}
	return args
}

// compilerCommand is the CC= value: the compiler make would pick, behind
// ccache when it is used, else behind the launcher. ccache goes in front of
// the compiler make would pick; with LLVM=1 and neither CC nor a launcher,
// kbuild picks clang itself and we leave it alone.
func compilerCommand(o Options, ccache bool) string {
	cc := o.CC
	if cc == "" && (ccache || o.Launcher != "") {
		switch {
		case o.LLVM == "":
			cc = o.CrossCompile + "gcc"
		case o.Launcher != "":
			cc = clangName(o.LLVM)
		}
	}
	switch {
	case cc == "":
	case ccache:
		if !strings.HasPrefix(cc, "ccache ") {
			cc = "ccache " + cc
		}
	case o.Launcher != "":
		if f := strings.Fields(cc); filepath.Base(f[0]) != filepath.Base(o.Launcher) {
			cc = o.Launcher + " " + cc
		}
	}
	return cc
}

// clangName is the clang kbuild picks for LLVM=1, LLVM=-VER or LLVM=DIR/.
func clangName(llvm string) string {
	switch {
	case strings.HasSuffix(llvm, "/"):
		return llvm + "clang"
	case strings.HasPrefix(llvm, "-"):
		return "clang" + llvm
	}
	return "clang"
}

// MakeEnv is what make's environment gets besides the caller's. With both
// ccache and a launcher, ccache stays in CC and runs the launcher on a miss
// (CCACHE_PREFIX, ccache's own way): hits stay local, misses are
// distributed, and CC — which kbuild records in every object's command
// line — is the same with and without the launcher, so switching it on or
// off rebuilds nothing.
func MakeEnv(o Options, ccache bool) []string {
	if o.Launcher != "" && ccache && compilerCommand(o, ccache) != "" {
		return []string{"CCACHE_PREFIX=" + o.Launcher}
	}
	return nil
}

// IceccJobsPerCPU is make's -j per local CPU with icecc, which cannot be
// asked for its cluster's size: enough to keep a few helpers busy while
// the local machine preprocesses. rapido.jobs overrides it.
const IceccJobsPerCPU = 4

// LauncherJobs is make's -j for a launcher when rapido.jobs is not set:
// what "distcc -j" answers (its hosts' capacity), else IceccJobsPerCPU per
// local CPU.
func LauncherJobs(o Options) int {
	if filepath.Base(o.Launcher) == "distcc" {
		cmd := exec.Command(o.Launcher, "-j")
		var out strings.Builder
		cmd.Stdout = &out
		var err error
		if o.Exec != nil {
			err = o.Exec.Run(cmd)
		} else {
			err = cmd.Run()
		}
		if n, perr := strconv.Atoi(strings.TrimSpace(out.String())); err == nil && perr == nil && n > 0 {
			return n
		}
	}
	return IceccJobsPerCPU * runtime.NumCPU()
}

// IsConfigTarget reports whether a base configuration names a make target
// of the kernel tree (tinyconfig, defconfig, x86_64_defconfig...) rather
// than a config file. A name with a "/" is always a file: write
// ./my_defconfig for a file that happens to end in _defconfig.
func IsConfigTarget(base string) bool {
	if strings.Contains(base, "/") {
		return false
	}
	return base == "tinyconfig" || base == "defconfig" || strings.HasSuffix(base, "_defconfig")
}

// baseConfig is the base configuration with its default filled in.
func baseConfig(b string) string {
	if b == "" {
		return "tinyconfig"
	}
	return b
}

// ConfigDigest hashes every input that decides the kernel configuration.
func ConfigDigest(o Options) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "arch=%s cross=%s llvm=%s cc=%s\n", o.Arch, o.CrossCompile, o.LLVM, o.CC)
	base := baseConfig(o.BaseConfig)
	if IsConfigTarget(base) {
		fmt.Fprintf(h, "base=%s\n", base)
	} else {
		b, err := os.ReadFile(base)
		if err != nil {
			return "", fmt.Errorf("read kernel config %s: %w", base, err)
		}
		fmt.Fprintf(h, "base-file=%x\n", sha256.Sum256(b))
	}
	fmt.Fprintf(h, "builtin=%x\n", sha256.Sum256([]byte(BuiltinFragment(o.Arch))))
	items, err := fragmentItems(o.Fragments)
	if err != nil {
		return "", err
	}
	for _, it := range DropRedundant(items) {
		fmt.Fprintf(h, "%s\n", it)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fragmentItems expands the user's fragments (files or CONFIG_X=y items)
// into kconfig lines, in order.
func fragmentItems(frags []string) ([]string, error) {
	var out []string
	for _, f := range frags {
		if strings.HasPrefix(f, "CONFIG_") || strings.HasPrefix(f, "# CONFIG_") {
			// A malformed item ("CONFIG_KASAN" without =y) would be
			// pasted into .config and silently dropped by kconfig.
			if !setRe.MatchString(f) && !unsetRe.MatchString(f) {
				return nil, fmt.Errorf("kconfig item %q: want CONFIG_X=value or \"# CONFIG_X is not set\"", f)
			}
			out = append(out, f)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read kconfig fragment: %w", err)
		}
		out = append(out, configLines(string(b))...)
	}
	return out, nil
}

// DropRedundant removes the settings that repeat the value their symbol
// already has from an earlier line: they change nothing in the merged
// .config, so leaving them out of ConfigDigest keeps the digest (and the
// configured build) the same when a cut asks for an option that
// rapido.kconfig already sets.
func DropRedundant(items []string) []string {
	cur := map[string]string{}
	out := items[:0:0]
	for _, it := range items {
		sym, v := parseSetting(it)
		if old, ok := cur[sym]; ok && old == v && sym != "" {
			continue
		}
		cur[sym] = v
		out = append(out, it)
	}
	return out
}

var (
	setRe   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetRe = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// configLines returns the setting lines of a .config or fragment.
func configLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if setRe.MatchString(l) || unsetRe.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// parseSetting returns the symbol and value ("n" when not set).
func parseSetting(l string) (string, string) {
	if m := setRe.FindStringSubmatch(l); m != nil {
		return m[1], m[2]
	}
	if m := unsetRe.FindStringSubmatch(l); m != nil {
		return m[1], "n"
	}
	return "", ""
}

// Merge applies setting lines to a .config text, like merge_config.sh -m.
func Merge(config string, settings []string) string {
	want := map[string]string{}
	var order []string
	for _, s := range settings {
		sym, _ := parseSetting(s)
		if _, ok := want[sym]; !ok {
			order = append(order, sym)
		}
		want[sym] = s
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(config, "\n"), "\n") {
		sym, _ := parseSetting(strings.TrimSpace(l))
		if s, ok := want[sym]; ok && sym != "" {
			out = append(out, s)
			delete(want, sym)
			continue
		}
		out = append(out, l)
	}
	for _, sym := range order {
		if s, ok := want[sym]; ok {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// Unmet lists the requested settings the final .config does not have
// (kconfig drops options whose dependencies are missing).
func Unmet(final string, settings []string) []string {
	have := map[string]string{}
	for _, l := range configLines(final) {
		sym, v := parseSetting(l)
		have[sym] = v
	}
	var out []string
	seen := map[string]bool{}
	for i := len(settings) - 1; i >= 0; i-- {
		sym, v := parseSetting(settings[i])
		if seen[sym] {
			continue
		}
		seen[sym] = true
		got, ok := have[sym]
		if !ok {
			got = "n"
		}
		if got != v {
			out = append(out, fmt.Sprintf("%s=%s requested, but the final .config has %s=%s (a dependency is missing?)", sym, v, sym, got))
		}
	}
	sort.Strings(out)
	return out
}

var locks sync.Map

// Build configures the tree when needed and builds the kernel image (and
// modules when enabled). Only one build runs per build dir at a time.
func Build(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if o.Make == "" {
		o.Make = "make"
	}
	// The worktree's tree (a stat of every file in it: the longest read
	// of a skip) is read from the start, next to everything below.
	if o.Reuse != nil {
		o.Reuse = o.Reuse.start(ctx)
	}
	arch, err := ArchOf(o.Arch)
	if err != nil {
		return nil, &ConfigError{err}
	}
	if err := os.MkdirAll(o.BuildDir, 0o755); err != nil {
		return nil, &ConfigError{err}
	}
	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return nil, &ConfigError{err}
	}
	unlock, err := lockDir(ctx, o.BuildDir, o.Progress)
	if err != nil {
		return nil, &ConfigError{err}
	}
	// The lock passes to the recording of a finished build, which runs
	// next to the caller's cut and boot (Result.Wait).
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()

	logPath := filepath.Join(o.LogDir, "build.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, &ConfigError{err}
	}
	defer logf.Close()
	_, ccacheErr := exec.LookPath("ccache")
	ccache := ccacheErr == nil && os.Getenv("RAPIDO_NO_CCACHE") == ""
	if o.Launcher != "" {
		// A missing launcher would fail every compile like a broken
		// tree; it is this machine that cannot build.
		if _, err := exec.LookPath(o.Launcher); err != nil {
			return nil, &ConfigError{fmt.Errorf("compiler launcher %s: not found (install it, or unset rapido.compilerLauncher)", o.Launcher)}
		}
		if o.Jobs == 0 {
			o.Jobs = LauncherJobs(o)
		}
	}
	common := MakeArgs(o, ccache)
	vmlinuxPath := filepath.Join(o.BuildDir, "vmlinux")
	if o.Reuse != nil {
		res, why := tryReuse(ctx, o, arch, common)
		if res != nil {
			fmt.Fprintf(logf, "%s (tree %s)\n", SkipNote, o.Reuse.Tree)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "%s\n", SkipNote)
			}
			res.Log, res.Duration = logPath, time.Since(start)
			res.vmlinux = stampOf(vmlinuxPath, false)
			return res, nil
		}
		if why != "" {
			fmt.Fprintf(logf, "build: make runs: %s\n", why)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "build: make runs: %s\n", why)
			}
		}
	}
	// The tree is read before make reads it; without one nothing is
	// recorded.
	if o.Reuse != nil {
		if _, err := o.Reuse.tree(); err != nil {
			o.Reuse = nil
		}
	}
	// The record of the last build goes before anything in the build
	// directory changes: an interrupted or failed build leaves none.
	if err := dropRecord(o.BuildDir); err != nil {
		return nil, &ConfigError{err}
	}
	b := &builder{o: o, log: logf, common: common, env: MakeEnv(o, ccache), prog: newProgress(o.Progress, o.Terminal, start), warn: newWarningTally()}
	b.prog.verbose = o.Verbose

	res := &Result{BuildDir: o.BuildDir, Log: logPath, ConfigPath: filepath.Join(o.BuildDir, ".config")}
	if res.Warnings, err = b.configure(ctx); err != nil {
		return nil, err
	}
	cfg, _ := os.ReadFile(res.ConfigPath)
	modules := strings.Contains(string(cfg), "\nCONFIG_MODULES=y")
	targets := []string{arch.Image}
	res.VmlinuxOnly = vmlinuxOnly(o, arch, string(cfg))
	if res.VmlinuxOnly {
		targets = []string{"vmlinux"}
	}
	if modules {
		targets = append(targets, "modules")
	}
	// A build with no vmlinux yet compiles everything: its count, seen for
	// the same .config before, gives the percentage and time left.
	_, vmErr := os.Stat(filepath.Join(o.BuildDir, "vmlinux"))
	fromScratch := vmErr != nil
	if fromScratch {
		b.prog.expectObjects(expectedObjects(cfg))
	}
	b.prog.phase("build")
	if err := b.make(ctx, true, targets...); err != nil {
		return nil, b.buildError(err, logPath)
	}
	res.Objects = b.prog.objects
	if fromScratch {
		recordObjects(cfg, res.Objects)
	}
	rec, had := loadWarnings(o.BuildDir)
	next, added := b.warn.merge(rec, had)
	saveWarnings(o.BuildDir, next)
	res.CompilerWarnings, res.NewWarnings = len(b.warn.emitted), added
	res.KernelImage = filepath.Join(o.BuildDir, "arch", arch.Name, "boot", arch.Image)
	if res.VmlinuxOnly {
		res.KernelImage = vmlinuxPath
	}
	res.vmlinux = stampOf(vmlinuxPath, false)
	rel, _ := os.ReadFile(filepath.Join(o.BuildDir, "include/config/kernel.release"))
	res.KernelRelease = strings.TrimSpace(string(rel))
	if modules {
		order, _ := os.ReadFile(filepath.Join(o.BuildDir, "modules.order"))
		if len(strings.TrimSpace(string(order))) > 0 {
			res.ModulesDir = filepath.Join(o.BuildDir, "rapido-modules")
			stamp := filepath.Join(res.ModulesDir, ".stamp")
			if Newer(filepath.Join(o.BuildDir, "modules.order"), stamp) || Newer(res.KernelImage, stamp) {
				b.prog.phase("modules_install")
				os.RemoveAll(res.ModulesDir)
				if err := b.make(ctx, false, "modules_install", "INSTALL_MOD_PATH="+res.ModulesDir, "INSTALL_MOD_STRIP=1"); err != nil {
					return nil, b.buildError(err, logPath)
				}
				os.WriteFile(stamp, nil, 0o644)
			}
		}
	}
	b.prog.done()
	res.Duration = time.Since(start)
	if o.Reuse != nil {
		// Recording reads kbuild's records and asks git twice (a few
		// hundred milliseconds for a kernel): it holds the build
		// directory's lock but not the caller, who waits for it only
		// before exiting.
		done := make(chan struct{})
		locked = false
		built := *res
		go func() {
			defer close(done)
			defer unlock()
			t := time.Now()
			err := recordBuild(ctx, o, arch, common, &built)
			if f, ferr := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0); ferr == nil {
				fmt.Fprintf(f, "build: recorded for later skips in %s (%v)\n", time.Since(t).Round(time.Millisecond), err)
				f.Close()
			}
			if err != nil && ctx.Err() == nil && o.Progress != nil {
				fmt.Fprintf(o.Progress, "warning: build not recorded (the next one runs make): %v\n", err)
			}
		}()
		res.recorded = done
	}
	return res, nil
}

// vmlinuxOnly says whether make builds vmlinux alone: the caller boots
// vmlinux when config (the final .config) sets o.VmlinuxIf, and this
// architecture has a compressed image to leave out (x86).
func vmlinuxOnly(o Options, arch Arch, config string) bool {
	return o.VmlinuxIf != "" && arch.Name == "x86" && strings.Contains("\n"+config, "\n"+o.VmlinuxIf+"=y\n")
}

// MakeImage makes the compressed image of a build that made only vmlinux
// (r.VmlinuxOnly), for a boot that needs it after all (fast boot refused,
// several VMs): make for the image alone, in the build directory, under
// its lock. It refuses when vmlinux is no longer the one r made (another
// build ran there, or make would compile a worktree that changed since):
// the image would not be the kernel that was built. The record of the
// build, when it is r's, then names the image too.
func MakeImage(ctx context.Context, o Options, r *Result) (string, error) {
	if !r.VmlinuxOnly {
		return r.KernelImage, nil
	}
	if o.Make == "" {
		o.Make = "make"
	}
	arch, err := ArchOf(o.Arch)
	if err != nil {
		return "", &ConfigError{err}
	}
	unlock, err := lockDir(ctx, o.BuildDir, o.Progress)
	if err != nil {
		return "", &ConfigError{err}
	}
	defer unlock()
	vmlinux := filepath.Join(o.BuildDir, "vmlinux")
	changed := errors.New("make the compressed image: vmlinux changed since the build (another build ran in " + o.BuildDir + ")")
	if stampOf(vmlinux, false) != r.vmlinux {
		return "", changed
	}
	logPath := filepath.Join(o.LogDir, "build.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", &ConfigError{err}
	}
	defer logf.Close()
	_, ccacheErr := exec.LookPath("ccache")
	ccache := ccacheErr == nil && os.Getenv("RAPIDO_NO_CCACHE") == ""
	if o.Launcher != "" && o.Jobs == 0 {
		o.Jobs = LauncherJobs(o)
	}
	b := &builder{o: o, log: logf, common: MakeArgs(o, ccache), env: MakeEnv(o, ccache), prog: newProgress(nil, false, time.Now()), warn: newWarningTally()}
	if err := b.make(ctx, false, arch.Image); err != nil {
		return "", b.buildError(err, logPath)
	}
	if stampOf(vmlinux, false) != r.vmlinux {
		// make compiled something: the tree is not the one built.
		dropRecord(o.BuildDir)
		return "", changed
	}
	image := filepath.Join(o.BuildDir, "arch", arch.Name, "boot", arch.Image)
	if rec, err := readRecord(o.BuildDir); err == nil && rec.VmlinuxOnly && rec.Image == vmlinux {
		rec.VmlinuxOnly, rec.Image = false, image
		for i, s := range rec.Outputs {
			if s.Path == image {
				rec.Outputs[i] = stampOf(image, false)
			}
		}
		if data, err := json.Marshal(rec); err == nil {
			writeAtomic(filepath.Join(o.BuildDir, recordName), data)
		}
	}
	return image, nil
}

// Newer reports whether file a exists and is newer than b (or b is
// missing): a build output made after the one that should contain it.
func Newer(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err != nil || fa.ModTime().After(fb.ModTime())
}

// lockDir takes an exclusive flock on the build dir, saying so when it has
// to wait for another git rapido building there.
func lockDir(ctx context.Context, dir string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".rapido-lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if progress != nil {
			fmt.Fprintf(progress, "build: waiting for another build in %s\n", dir)
		}
		done := make(chan error, 1)
		go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
		select {
		case err := <-done:
			if err != nil {
				f.Close()
				return nil, err
			}
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		}
	}
	return func() { f.Close() }, nil
}

type builder struct {
	o      Options
	log    io.Writer
	common []string
	env    []string // added to make's environment (MakeEnv)
	prog   *progress
	warn   *warningTally
	errs   []string
	full   bool // the disk filled up: the machine's trouble, not the tree's
}

// configure keeps an existing .config whose inputs have not changed; else
// it starts from the base config (or the kept .config), merges the built-in
// and user fragments and runs olddefconfig. It returns the requested
// options that did not take effect.
func (b *builder) configure(ctx context.Context) ([]string, error) {
	digest, err := ConfigDigest(b.o)
	if err != nil {
		return nil, &ConfigError{err}
	}
	cfgPath := filepath.Join(b.o.BuildDir, ".config")
	stampPath := filepath.Join(b.o.BuildDir, ".rapido-config")
	if st, err := os.ReadFile(stampPath); err == nil && strings.TrimSpace(string(st)) == digest {
		if _, err := os.Stat(cfgPath); err == nil {
			return nil, nil // nothing changed: no make invocation at all
		}
	}
	b.prog.phase("config")
	if _, err := os.Stat(cfgPath); err != nil {
		base := baseConfig(b.o.BaseConfig)
		if IsConfigTarget(base) {
			if err := b.make(ctx, false, base); err != nil {
				return nil, &ConfigError{fmt.Errorf("make %s: %w", base, err)}
			}
		} else {
			data, err := os.ReadFile(base)
			if err != nil {
				return nil, &ConfigError{err}
			}
			if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
				return nil, &ConfigError{err}
			}
		}
	}
	user, err := fragmentItems(b.o.Fragments)
	if err != nil {
		return nil, &ConfigError{err}
	}
	settings := append(configLines(BuiltinFragment(b.o.Arch)), user...)
	cur, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, &ConfigError{err}
	}
	if err := os.WriteFile(cfgPath, []byte(Merge(string(cur), settings)), 0o644); err != nil {
		return nil, &ConfigError{err}
	}
	if err := b.make(ctx, false, "olddefconfig"); err != nil {
		return nil, &ConfigError{fmt.Errorf("make olddefconfig: %w", err)}
	}
	final, _ := os.ReadFile(cfgPath)
	os.WriteFile(stampPath, []byte(digest+"\n"), 0o644)
	return Unmet(string(final), settings), nil
}

// make runs make with the common arguments plus args, its output going to
// the build log and, parsed, to the progress line.
func (b *builder) make(ctx context.Context, count bool, args ...string) error {
	argv := append(append([]string(nil), b.o.MakeWrapper...), b.o.Make)
	argv = append(argv, b.common...)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = b.o.SourceDir
	if len(b.env) > 0 {
		cmd.Env = append(os.Environ(), b.env...)
	}
	// make's own job server children must die with it on Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(b.log, line)
			if strings.Contains(line, "No space left on device") || strings.Contains(line, "Disk quota exceeded") {
				b.full = true
			}
			if isErrorLine(line) && len(b.errs) < 40 {
				b.errs = append(b.errs, line)
			}
			if count {
				b.prog.line(line)
				b.warn.line(line)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	fmt.Fprintf(b.log, "+ %s\n", strings.Join(append(append([]string(nil), b.env...), argv...), " "))
	var err error
	if b.o.Exec != nil {
		err = b.o.Exec.Run(cmd)
	} else {
		err = cmd.Run()
	}
	pw.Close()
	<-done
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

var (
	compilerErr = regexp.MustCompile(`^[^\s:]+:\d+(:\d+)?: (fatal )?error: `)
	makeErr     = regexp.MustCompile(`^make(\[\d+\])?: \*\*\* `)
	linkErr     = regexp.MustCompile(`(undefined reference to|multiple definition of|^ld: )`)
)

func isErrorLine(l string) bool {
	return compilerErr.MatchString(l) || makeErr.MatchString(l) || linkErr.MatchString(l)
}

// ErrorExcerpt picks the lines that explain a failed build: compiler and
// linker errors first, then make's own "***" lines.
func ErrorExcerpt(lines []string) []string {
	var first, rest []string
	for _, l := range lines {
		if makeErr.MatchString(l) {
			rest = append(rest, l)
		} else {
			first = append(first, l)
		}
	}
	out := append(first, rest...)
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}

func (b *builder) buildError(err error, log string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	b.prog.done()
	var ee *exec.Error
	if errors.As(err, &ee) {
		return &ConfigError{fmt.Errorf("%w (install make and a compiler)", err)}
	}
	if b.full {
		return &ConfigError{fmt.Errorf("build in %s: the disk is full (log: %s)", b.o.BuildDir, log)}
	}
	return &Error{Log: log, Excerpt: ErrorExcerpt(b.errs), Err: err}
}
