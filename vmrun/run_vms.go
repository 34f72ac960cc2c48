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
func runVMs(ctx context.Context, s *Spec, v *Verdict, n, verdictFrom int, br *BuildResult, image string, progress io.Writer, trace func([]string)) (*Verdict, error) {
	if s.Interactive {
		return infra(v, fmt.Errorf("the cut boots %d VMs; an interactive boot takes one (use git rapido run)", n)), nil
	}
	nets, err := s.Net.plan(n)
	if err != nil {
		return infra(v, err), nil
	}
	a, _ := kbuild.ArchOf(s.Build.Arch)
	accel, note := resolveAccel(s.QEMU.Accel, s.QEMU.Binary)
	if note != "" {
		// No KVM probing with several VMs: its fallback restarts one VM,
		// which would desynchronise the others. A single-VM run learns
		// whether KVM works here.
		accel = "tcg"
	}
	qcs := make([]qemu.Config, n)
	for i := range qcs {
		dir := filepath.Join(v.LogDir, fmt.Sprintf("vm%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return infra(v, fmt.Errorf("create log dir: %w", err)), nil
		}
		qc := qemu.Config{
			Binary: s.QEMU.Binary, Memory: s.QEMU.Memory, CPUs: s.QEMU.CPUs,
			Kernel: br.KernelImage, Initrd: image, Console: a.Console,
			KernelArgs: append([]string(nil), s.QEMU.KernelArgs...),
			ExtraArgs:  append(append([]string(nil), a.Machine...), s.QEMU.ExtraArgs...),
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
	from := "all"
	if verdictFrom > 0 {
		from = fmt.Sprintf("rapido%d", verdictFrom)
	}
	fmt.Fprintf(progress, "boot: %d VMs of %s (%s, net %s, verdict from %s)\n", n, filepath.Base(br.KernelImage), accel, netModeName(s.Net.Mode), from)

	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		outs     = make([]*bootOutcome, n)
		verdicts = make([]*Verdict, n)
		ended    = make([]bool, n) // the VM ended by itself, not stopped by us
		firstBad = -1
		wg       sync.WaitGroup
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
			outs[i], verdicts[i], ended[i] = out, vi, err == nil
			switch {
			case err != nil:
			case verdictFrom == i+1:
				cancel()
			case verdictFrom == 0 && vi.Status != Pass:
				if firstBad < 0 {
					firstBad = i
				}
				cancel()
			}
		}(i)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return v, ctx.Err()
	}

	pick := func(i int) {
		vi := verdicts[i]
		v.Status, v.Excerpt, v.Accel = vi.Status, vi.Excerpt, accel
		v.Reason = fmt.Sprintf("rapido%d: %s", i+1, vi.Reason)
		v.Timings.KernelBoot, v.Timings.Init, v.Timings.Test, v.Timings.Shutdown = outs[i].timings()
	}
	for i := range verdicts {
		if ended[i] && verdicts[i].Status == Crash {
			pick(i)
			return v, nil
		}
	}
	switch {
	case verdictFrom > 0:
		if !ended[verdictFrom-1] {
			return infra(v, fmt.Errorf("rapido%d was stopped before its verdict", verdictFrom)), nil
		}
		pick(verdictFrom - 1)
	case firstBad >= 0:
		pick(firstBad)
	default:
		pick(0)
		v.Reason = fmt.Sprintf("test passed on all %d VMs", n)
	}
	return v, nil
}

func netModeName(m string) string {
	if m == "" {
		return NetNone
	}
	return m
}
