package vmrun_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun"
)

// staticInit returns a static git-rapido to install as /init: $RAPIDO_BIN
// when set (make bench sets it), otherwise one built for the benchmark.
func staticInit(b *testing.B) string {
	if p := os.Getenv("RAPIDO_BIN"); p != "" {
		return p
	}
	out := filepath.Join(b.TempDir(), "git-rapido")
	cmd := exec.Command("go", "build", "-o", out, "github.com/git-rapido/git-rapido/cmd/git-rapido")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build static git-rapido: %v\n%s", err, msg)
	}
	return out
}

// BenchmarkCutBoot is the in-process cost of cutting the default image
// (busybox and the static /init): resolve the manifest and the ELF closure,
// then write the reproducible cpio. contrib/bench/bench-cut.sh compares the
// whole command with dracut.
func BenchmarkCutBoot(b *testing.B) {
	if _, err := exec.LookPath("busybox"); err != nil {
		b.Skip("busybox is not installed (apt-get install busybox-static)")
	}
	init := staticInit(b)
	out := filepath.Join(b.TempDir(), "image.cpio")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan, err := vmrun.PlanCut(vmrun.CutOptions{Name: "boot", InitBinary: init, CacheDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := plan.WriteImageTo(out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if fi, err := os.Stat(out); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB/image")
	}
}

// BenchmarkCutCached is a cut whose image is already in the cache, as on
// every "git rapido run" after the first: plan, hash, find.
func BenchmarkCutCached(b *testing.B) {
	if _, err := exec.LookPath("busybox"); err != nil {
		b.Skip("busybox is not installed (apt-get install busybox-static)")
	}
	init := staticInit(b)
	cache := b.TempDir()
	o := vmrun.CutOptions{Name: "boot", InitBinary: init, CacheDir: cache}
	plan, err := vmrun.PlanCut(o)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := plan.WriteImage(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan, err := vmrun.PlanCut(o)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := plan.WriteImage(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
