package vmrun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/cut"
	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// Plan is a Spec resolved once, before anything is built: the kernel
// configuration inputs (with the cut's kconfig items merged), the cut
// prepared (everything but the kernel's modules), the test, the VM
// settings and the compiler's identity. The verdict cache key is derived
// from it (Key), --dry-run prints it (DryRun) and RunPlan executes it;
// none of them resolves the spec again, so they cannot disagree.
type Plan struct {
	spec     *Spec
	build    BuildOptions
	cut      *cut.Plan
	cacheDir string
	arch     kbuild.Arch
	compiler string
	// shareKeys are the shares' keys, read by KeyShares (share.go).
	shareKeys []shareKey
}

// NewPlan resolves s. Every error is one the run would meet before
// building (an unknown cut, a bad manifest or test script), so a dry run
// fails exactly as the run does; the network is checked when a VM's QEMU
// configuration is made (DryRun, RunPlan): a cache hit needs no tap. x runs "$CC --version" the first
// time a compiler is seen (nil runs it directly).
func NewPlan(s *Spec, x Execer) (*Plan, error) {
	a, err := kbuild.ArchOf(s.Build.Arch)
	if err != nil {
		return nil, err
	}
	if err := foreignTools(s); err != nil {
		return nil, err
	}
	co, err := s.Cut.internal()
	if err != nil {
		return nil, fmt.Errorf("cut: %w", err)
	}
	cp, err := cut.Prepare(co)
	if err != nil {
		return nil, fmt.Errorf("cut: %w", err)
	}
	p := &Plan{spec: s, build: withCutKconfig(s.Build, &cp.Host), cut: cp, arch: a, cacheDir: s.Cut.CacheDir}
	// virtiofs asked for and not to be had: cannot test, before a build.
	if s.QEMU.ShareTransport == "virtiofs" && len(p.shares()) > 0 {
		if _, _, _, err := shareTransports("virtiofs", p.shares(), findVirtiofsd); err != nil {
			return nil, err
		}
	}
	if p.cacheDir == "" {
		p.cacheDir = filepath.Join(CacheHome(), "images")
	}
	p.compiler = compilerIdentity(p.build, x)
	return p, nil
}

// Compiler is the compiler's identity as the key holds it.
func (p *Plan) Compiler() string { return p.compiler }

// specVersion names the key's layout; a new layout gives new keys.
const specVersion = "git-rapido spec v2"

// Key is the verdict cache key's spec half (the tree id is the other). It
// holds what decides the kernel's and the test's behaviour, and nothing
// that changes from one machine or one git-rapido build to the next; the
// "What the cache key covers" in docs/cache.md lists each input and why.
func (p *Plan) Key() (string, error) {
	// The compiler is named by what it reports, not by how CC, LLVM or
	// CROSS_COMPILE spell it; the architecture stands for the target.
	kb := p.build
	llvm := kb.LLVM != ""
	kb.CC, kb.LLVM, kb.CrossCompile = "", "", ""
	cd, err := ConfigDigest(kb)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\narch %s\nconfig %s\ncompiler %q llvm %t\n", specVersion, p.arch.Name, cd, p.compiler, llvm)
	if err := p.cut.WriteKey(h); err != nil {
		return "", err
	}
	s := p.spec
	fmt.Fprintf(h, "memory %s cpus %d append %q qemu-extra %q timeout %s\n",
		s.QEMU.Memory, s.QEMU.CPUs, s.QEMU.KernelArgs, s.QEMU.ExtraArgs, s.Cut.Timeout)
	h.Write([]byte(s.Net.digestLine()))
	fmt.Fprintf(h, "vms %d verdict-from %d\n", p.cut.VMs, p.cut.VerdictFrom)
	hd, err := p.cut.Host.Digest()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "cut-host %s\n", hd)
	h.Write([]byte(p.shareKeyLines()))
	// Only a policy that can change the verdict is in the key, so keys made
	// before it existed still answer.
	if s.Warnings == WarningsFail {
		fmt.Fprintf(h, "warnings fail\n")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Digest is NewPlan(s, nil).Key(), for callers that hold only a Spec.
func (s *Spec) Digest() (string, error) {
	p, err := NewPlan(s, nil)
	if err != nil {
		return "", err
	}
	return p.Key()
}

// Describe lists what the plan resolved, one "what: value" line each, as
// --dry-run prints them: the inputs of the cache key, and the key itself.
func (p *Plan) Describe() ([]string, error) { return p.describe(true) }

// describe is Describe; without transport it leaves out how this machine
// serves the shares (a verdict's words, see described).
func (p *Plan) describe(transport bool) ([]string, error) {
	key, err := p.Key()
	if err != nil {
		return nil, err
	}
	b := p.build
	test := "the cut's autorun scripts"
	switch {
	case p.spec.Cut.Script != "":
		test = "script " + p.spec.Cut.Script
	case len(p.spec.Cut.Command) > 0:
		test = fmt.Sprintf("command %q", p.spec.Cut.Command)
	}
	return append(p.describeShares(transport),
		fmt.Sprintf("arch: %s", p.arch.Name),
		fmt.Sprintf("compiler: %s", p.compiler),
		fmt.Sprintf("kernel config: %s + %q", b.BaseConfig, b.Fragments),
		fmt.Sprintf("cut: %s (%d VM(s))", strings.Join(p.cut.Sources, " > "), p.cut.VMs),
		fmt.Sprintf("test: %s, timeout %s", test, p.spec.Cut.Timeout),
		fmt.Sprintf("vm: memory %s, cpus %d", p.spec.QEMU.Memory, p.spec.QEMU.CPUs),
		fmt.Sprintf("cache key: %s", key),
	), nil
}

// kernelImage is where the build leaves the kernel.
func (p *Plan) kernelImage() string {
	return filepath.Join(p.build.BuildDir, "arch", p.arch.Name, "boot", p.arch.Image)
}

// qemuConfig is the one VM's QEMU configuration of a single-VM run, before
// acceleration and the cut's own arguments: Run and DryRun share it.
func (p *Plan) qemuConfig(kernel, initrd, runDir string) (qemu.Config, error) {
	s := p.spec
	qc := qemu.Config{
		Binary: s.QEMU.Binary, Memory: s.QEMU.Memory, CPUs: s.QEMU.CPUs,
		Kernel: kernel, Initrd: initrd, Console: p.arch.Console, Machine: p.arch.Machine, CPU: p.arch.CPU,
		KernelArgs: s.QEMU.KernelArgs, ExtraArgs: append([]string(nil), s.QEMU.ExtraArgs...),
		Interactive: s.Interactive, Shares: p.qemuShares(),
	}
	// An interactive boot has no console log and no verdict channel.
	if !s.Interactive {
		qc.ConsoleLog = filepath.Join(runDir, "console.log")
		qc.VerdictPath = filepath.Join(runDir, "verdict.jsonl")
	}
	nets, err := s.Net.plan(1)
	if err != nil {
		return qc, err
	}
	if nets != nil {
		qc.Net = nets[0].net
		qc.KernelArgs = append(append([]string(nil), qc.KernelArgs...), nets[0].kernelArgs...)
	}
	return qc, nil
}

// DryRun returns the QEMU command line the run would use, without
// building: the kernel and image paths are where the build and the cut
// would put them, the run directory and QMP socket are placeholders.
func (p *Plan) DryRun() ([]string, error) {
	runDir := filepath.Join(p.spec.LogRoot, "<run>")
	qc, err := p.qemuConfig(p.kernelImage(), filepath.Join(p.cacheDir, "<digest>.cpio"), runDir)
	if err != nil {
		return nil, err
	}
	qc.Accel, _ = resolveAccel(p.spec.QEMU.Accel, p.spec.QEMU.Binary, p.spec.Build.Arch)
	qc.ExtraArgs = append(qc.ExtraArgs, cutQEMUArgs(&p.cut.Host, runDir, "<qmp-socket>")...)
	qc.ExtraArgs = append(qc.ExtraArgs, storageDryRun(p.cut.Host.Storage, runDir, qc.Memory)...)
	if _, _, err := p.planVirtiofs(&qc, true); err != nil {
		return nil, err
	}
	qc = p.bootConfigs(qc, "")[0]
	return append([]string{qc.Binary}, qemu.BuildArgs(qc)...), nil
}

// internal is the cut package's view of the options, with the guest init
// for the architecture found.
func (o CutOptions) internal() (cut.Options, error) {
	a, err := kbuild.ArchOf(o.Arch)
	if err != nil {
		return cut.Options{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return cut.Options{}, fmt.Errorf("find git-rapido: %w", err)
	}
	init, err := resolveInit(o.InitBinary, self, o.Arch)
	if err != nil {
		return cut.Options{}, err
	}
	return cut.Options{
		Name: o.Name, Manifest: o.Manifest, Script: o.Script, Command: o.Command,
		SearchPath: o.SearchPath, ModulesDir: o.ModulesDir, Release: o.KernelRelease,
		Init: init, TimeoutSec: int(o.Timeout / time.Second), Env: o.Env,
		Lookup: o.Lookup, Arch: o.Arch, Machine: a.ELF, Sysroot: o.Sysroot,
		Shares: o.Shares, Workdir: o.Workdir,
	}, nil
}

// bootConfigs returns the ways to boot qc's VM, to try in order: the fast
// path (qemu.FastBoot) when rapido.fastBoot allows it and this QEMU and
// kernel offer it, then qc as it is (QEMU's defaults), which is also the
// only one when there is no fast path. qc holds every QEMU argument of the
// run already (the cut's too).
func (p *Plan) bootConfigs(qc qemu.Config, vmlinux string) []qemu.Config {
	fb := p.fastBoot(qc, vmlinux)
	if !fb.Usable() {
		return []qemu.Config{qc}
	}
	fast := qc
	fb.Apply(&fast)
	return []qemu.Config{fast, qc}
}

// bootsVmlinux says whether the plan's boot will try vmlinux (the fast
// path of fastBoot) before the kernel is built: rapido.fastBoot allows it,
// the guest is x86, the cut boots one VM (several boot the compressed
// image) and this QEMU boots a PVH vmlinux. The kernel's own part (the
// PVH entry, CONFIG_PVH) is the build's to check.
func (p *Plan) bootsVmlinux() bool {
	s := p.spec
	return s.QEMU.FastBoot != "off" && p.arch.Name == "x86" && p.cut.VMs <= 1 && qemu.QEMUData(s.QEMU.Binary, "pvh.bin") != ""
}

// fastBoot finds the fast path for the plan's kernel and qc's VM: x86
// only (the PVH entry is), a QEMU that boots a PVH vmlinux (it ships
// pvh.bin, QEMU 4.0 and newer) and a kernel with the PVH entry. microvm
// also needs its firmware, a kernel with virtio-mmio command-line devices,
// no network card, no share (a virtio-9p-pci device) and no QEMU
// arguments of the user's or the cut's (storage disks among them), which
// may name PCI devices.
func (p *Plan) fastBoot(qc qemu.Config, vmlinux string) qemu.FastBoot {
	s := p.spec
	if s.QEMU.FastBoot == "off" || p.arch.Name != "x86" || qemu.QEMUData(s.QEMU.Binary, "pvh.bin") == "" {
		return qemu.FastBoot{}
	}
	if vmlinux == "" {
		vmlinux = filepath.Join(p.build.BuildDir, "vmlinux")
	}
	if !qemu.HasPVHEntry(vmlinux) {
		return qemu.FastBoot{}
	}
	fb := qemu.FastBoot{Kernel: vmlinux}
	if qemu.QEMUData(s.QEMU.Binary, "bios-microvm.bin") != "" && len(qc.ExtraArgs) == 0 && len(qc.Shares) == 0 &&
		(qc.Net.Mode == "" || qc.Net.Mode == qemu.NetNone) &&
		qemu.KernelConfigHas(filepath.Join(p.build.BuildDir, ".config"), "CONFIG_VIRTIO_MMIO", "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES") {
		fb.Machine = qemu.MachineMicroVM
	}
	return fb
}
