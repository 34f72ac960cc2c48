package vmrun

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// runVMs boots n VMs of one image together, each with its own log
// directory (vmN/console.log, vmN/verdict.jsonl, vmN/qemu.cmd), and takes
// the verdict from VM verdictFrom, or from all of them when it is 0.
//
// With a designated VM, the run ends when that VM ends: the others are
// typically servers that would run until killed. With "all", the run ends
// when every VM has ended, or as soon as one did not pass. A kernel crash
// in any VM that ended by itself makes the run a crash. Every QEMU is in
// its own process group and is killed when the run ends, fails or is
// interrupted.
//
// The steps: plan the QEMU configurations (pure), create the log
// directories, boot them all (bootVMs) and pick the verdict (pure).
func runVMs(ctx context.Context, s *Spec, v *Verdict, n, verdictFrom int, br *BuildResult, image string, progress io.Writer, trace func([]string)) (*Verdict, error) {
	if s.Interactive {
		return infra(v, fmt.Errorf("the cut boots %d VMs; an interactive boot takes one (use git rapido run)", n)), nil
	}
	nets, err := s.Net.plan(n)
	if err != nil {
		return infra(v, err), nil
	}
	accel, note := resolveAccel(s.QEMU.Accel, s.QEMU.Binary, s.Build.Arch)
	if note != "" {
		// No KVM probing with several VMs: its fallback restarts one VM,
		// which would desynchronise the others. A single-VM run learns
		// whether KVM works here.
		accel = "tcg"
	}
	qcs := vmConfigs(s, n, nets, br.KernelImage, image, v.LogDir, trace)
	for _, qc := range qcs {
		if err := os.MkdirAll(filepath.Dir(qc.ConsoleLog), 0o755); err != nil {
			return infra(v, fmt.Errorf("create log dir: %w", err)), nil
		}
	}
	from := "all"
	if verdictFrom > 0 {
		from = fmt.Sprintf("rapido%d", verdictFrom)
	}
	fmt.Fprintf(progress, "boot: %d VMs of %s (%s, net %s, verdict from %s)\n", n, filepath.Base(br.KernelImage), accel, netModeName(s.Net.Mode), from)

	r := bootVMs(ctx, s, qcs, accel, verdictFrom)
	if ctx.Err() != nil {
		return v, ctx.Err()
	}
	return r.verdict(v, accel, verdictFrom), nil
}

// vmConfigs plans one QEMU configuration per VM, VM i logging under
// logDir/vm<i+1>. It only computes: the caller creates the directories.
func vmConfigs(s *Spec, n int, nets []vmNet, kernel, image, logDir string, trace func([]string)) []qemu.Config {
	a, _ := kbuild.ArchOf(s.Build.Arch)
	qcs := make([]qemu.Config, n)
	for i := range qcs {
		dir := filepath.Join(logDir, fmt.Sprintf("vm%d", i+1))
		qc := qemu.Config{
			Binary: s.QEMU.Binary, Memory: s.QEMU.Memory, CPUs: s.QEMU.CPUs,
			Kernel: kernel, Initrd: image, Console: a.Console, Machine: a.Machine, CPU: a.CPU,
			KernelArgs: append([]string(nil), s.QEMU.KernelArgs...),
			ExtraArgs:  append([]string(nil), s.QEMU.ExtraArgs...),
			ConsoleLog: filepath.Join(dir, "console.log"), VerdictPath: filepath.Join(dir, "verdict.jsonl"),
			Trace: trace,
		}
		if nets != nil {
			qc.Net = nets[i].net
			qc.KernelArgs = append(qc.KernelArgs, nets[i].kernelArgs...)
		} else {
			// Without a network the VMs still learn who they are.
			qc.KernelArgs = append(qc.KernelArgs, fmt.Sprintf("rapido.hostname=rapido%d", i+1), fmt.Sprintf("rapido.vm=%d", i+1))
		}
		qcs[i] = qc
	}
	return qcs
}

// vmResults is what each VM of a multi-VM run did.
type vmResults struct {
	outs     []*bootOutcome
	verdicts []*Verdict
	ended    []bool // the VM ended by itself, not stopped by us
	firstBad int    // the first VM that ended without a pass, or -1
}

// bootVMs boots every VM concurrently and waits for all of them. The run
// is stopped (the other QEMUs killed) as soon as the designated VM ends,
// or, with verdictFrom 0, as soon as one VM does not pass: what the others
// would say no longer changes the verdict.
func bootVMs(ctx context.Context, s *Spec, qcs []qemu.Config, accel string, verdictFrom int) *vmResults {
	n := len(qcs)
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &vmResults{outs: make([]*bootOutcome, n), verdicts: make([]*Verdict, n), ended: make([]bool, n), firstBad: -1}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i := range qcs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := bootAndWatch(stop, s, qcs[i], accel)
			vi := &Verdict{}
			if err == nil {
				classify(vi, out)
			}
			mu.Lock()
			defer mu.Unlock()
			r.outs[i], r.verdicts[i], r.ended[i] = out, vi, err == nil
			switch {
			case err != nil:
			case verdictFrom == i+1:
				cancel()
			case verdictFrom == 0 && vi.Status != Pass:
				if r.firstBad < 0 {
					r.firstBad = i
				}
				cancel()
			}
		}(i)
	}
	wg.Wait()
	return r
}

// verdict fills v from the VM that decides the run: a VM that crashed by
// itself first (a crash anywhere is the finding), then the designated VM,
// then the first VM that did not pass; otherwise every VM passed.
func (r *vmResults) verdict(v *Verdict, accel string, verdictFrom int) *Verdict {
	pick := func(i int) {
		vi := r.verdicts[i]
		v.Status, v.Excerpt, v.Accel = vi.Status, vi.Excerpt, accel
		v.Reason = fmt.Sprintf("rapido%d: %s", i+1, vi.Reason)
		r.outs[i].setTimings(&v.Timings)
	}
	for i := range r.verdicts {
		if r.ended[i] && r.verdicts[i].Status == Crash {
			pick(i)
			return v
		}
	}
	switch {
	case verdictFrom > 0:
		if !r.ended[verdictFrom-1] {
			return infra(v, fmt.Errorf("rapido%d was stopped before its verdict", verdictFrom))
		}
		pick(verdictFrom - 1)
	case r.firstBad >= 0:
		pick(r.firstBad)
	default:
		pick(0)
		v.Reason = fmt.Sprintf("test passed on all %d VMs", len(r.verdicts))
	}
	return v
}

func netModeName(m string) string {
	if m == "" {
		return NetNone
	}
	return m
}
