package kbuild

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthBuild writes a build directory shaped like an x86 tinyconfig
// build's: 1,500 .cmd records of 150 dependencies each (out of 2,600
// source files) after a 2 KB command line.
func synthBuild(b *testing.B) (src, build string) {
	b.Helper()
	dir := b.TempDir()
	src, build = filepath.Join(dir, "linux"), filepath.Join(dir, "linux", ".git", "rapido", "build")
	cmdline := strings.Repeat("-Wall ", 340)
	for i := 0; i < 1500; i++ {
		obj := fmt.Sprintf("dir%d/obj%d.o", i%60, i)
		var sb strings.Builder
		fmt.Fprintf(&sb, "savedcmd_%s := gcc %s\n\nsource_%s := %s/dir%d/obj%d.c\n\ndeps_%s := \\\n", obj, cmdline, obj, src, i%60, i, obj)
		for j := 0; j < 150; j++ {
			fmt.Fprintf(&sb, "  %s/include/linux/h%d.h \\\n", src, (i*7+j*13)%2600)
		}
		fmt.Fprintf(&sb, "    $(wildcard include/config/X%d) \\\n\n%s: $(deps_%s)\n\n$(deps_%s):\n", i, obj, obj, obj)
		p := filepath.Join(build, filepath.Dir(obj), "."+filepath.Base(obj)+".cmd")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return src, build
}

// BenchmarkScanInputs is the cost, after each real build, of reading what
// it read from kbuild's records.
func BenchmarkScanInputs(b *testing.B) {
	src, build := synthBuild(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in, err := ScanInputs(src, build)
		if err != nil || in.Records != 1500 || len(in.Source) < 2600 {
			b.Fatalf("ScanInputs: %d records, %d sources, %v", in.Records, len(in.Source), err)
		}
	}
}

// BenchmarkReuseDecision is the cost of deciding a skip for a docs-only
// change against a record of 2,600 inputs: reading the record, the key
// (toolchain stamps, environment), the output stamps and Decide; git's
// diff and scripts/setlocalversion are the processes it adds.
func BenchmarkReuseDecision(b *testing.B) {
	o := newBuildEnv(b).o
	os.MkdirAll(o.BuildDir, 0o755)
	in := make([]string, 2600)
	for i := range in {
		in[i] = fmt.Sprintf("include/linux/h%d.h", i)
	}
	arch, _ := ArchOf("")
	o.Reuse = &Reuse{Tree: "t2", Compiler: "gcc",
		Diff: func(context.Context, string, string) ([]Change, error) {
			return []Change{{Path: "Documentation/process/howto.rst"}}, nil
		}}
	common := MakeArgs(o, false)
	key, err := reuseKey(o, common, "gcc")
	if err != nil {
		b.Fatal(err)
	}
	lv, _ := localVersion(context.Background(), o)
	rec := &Record{Version: recordVersion, Tree: "t1", Key: key, LocalVersion: lv, Inputs: in, Outputs: outputStamps(o, arch)}
	data, _ := json.Marshal(rec)
	os.WriteFile(filepath.Join(o.BuildDir, recordName), data, 0o644)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, why := tryReuse(context.Background(), o, arch, common); res == nil {
			b.Fatalf("not reused: %s", why)
		}
	}
}
