package kbuild

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// inputsOfTiny are some inputs of an x86 tinyconfig build, as ScanInputs
// reads them: objects, headers, host programs, objtool.
var inputsOfTiny = []string{
	"arch/x86/kernel/setup.c", "arch/x86/include/asm/processor.h", "arch/x86/tools/relocs_common.c",
	"drivers/tty/vt/vt.c", "fs/proc/version.c", "include/linux/kernel.h", "init/main.c",
	"kernel/fork.c", "lib/string.c", "tools/objtool/check.c", "tools/arch/x86/include/asm/insn.h",
}

// TestDecide is the matrix of what may and may not skip make: every case
// that can change the kernel runs make, and only paths no build input
// can be skip.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changed []string
		added   bool
		headers bool
		skip    bool
	}{
		{"nothing changed", nil, false, false, true},
		{"docs only", []string{"Documentation/process/submitting-patches.rst", "Documentation/admin-guide/README.rst"}, false, false, true},
		{"MAINTAINERS", []string{"MAINTAINERS"}, false, false, true},
		{"a .c file in the build", []string{"fs/proc/version.c"}, false, false, false},
		{"a .c file not in the build", []string{"fs/btrfs/super.c"}, false, false, true},
		{"another architecture", []string{"arch/arm64/kernel/setup.c", "arch/arm64/boot/dts/foo.dts"}, false, false, true},
		{"a header an object includes", []string{"include/linux/kernel.h"}, false, false, false},
		{"a header nothing includes", []string{"include/linux/btrfs.h"}, false, false, true},
		{"any header with IKHEADERS", []string{"include/linux/btrfs.h"}, false, true, false},
		{"a perf tool", []string{"tools/perf/builtin-record.c", "tools/perf/Documentation/perf.txt"}, false, false, true},
		{"objtool", []string{"tools/objtool/check.c"}, false, false, false},
		{"objtool's opcode map", []string{"tools/arch/x86/lib/x86-opcode-map.txt"}, false, false, false},
		{"tools build system", []string{"tools/build/Build.include"}, false, false, false},
		{"a tool's Build file", []string{"tools/perf/Build"}, false, false, false},
		{"Kconfig", []string{"fs/btrfs/Kconfig"}, false, false, false},
		{"top Kconfig", []string{"Kconfig"}, false, false, false},
		{"a Makefile", []string{"fs/btrfs/Makefile"}, false, false, false},
		{"a Kbuild file", []string{"arch/x86/Kbuild"}, false, false, false},
		{"a .mk file", []string{"arch/arm64/tools/gen.mk"}, false, false, false},
		{"scripts", []string{"scripts/setlocalversion"}, false, false, false},
		{"scripts C source", []string{"scripts/mod/modpost.c"}, false, false, false},
		{"localversion at the top", []string{"localversion-next"}, false, false, false},
		{"the top Makefile", []string{"Makefile"}, false, false, false},
		{"a syscall table", []string{"arch/x86/entry/syscalls/syscall_64.tbl"}, false, false, false},
		{"a keymap next to built files", []string{"drivers/tty/vt/defkeymap.map"}, false, false, false},
		{"a file one level under a built area", []string{"drivers/notes.txt"}, false, false, false},
		{"initramfs list", []string{"usr/default_cpio_list"}, false, false, false},
		{"certs", []string{"certs/default_x509.genkey"}, false, false, false},
		{"firmware", []string{"firmware/foo.bin"}, false, false, false},
		{"one bad path among docs", []string{"Documentation/a.rst", "init/main.c"}, false, false, false},
		{"a new header that may shadow one in the build", []string{"arch/x86/include/asm/kernel.h"}, true, false, false},
		{"a new header next to built files", []string{"fs/proc/internal2.h"}, true, false, false},
		{"a new .c file next to built files", []string{"kernel/newfile.c"}, true, false, false},
		{"a new source far from the build", []string{"drivers/gpu/drm/new/new.c", "arch/arm64/include/asm/new.h"}, true, false, true},
		{"a new doc", []string{"Documentation/new.rst"}, true, false, true},
		{"not a path", []string{"../etc/passwd"}, false, false, false},
		{"an absolute path", []string{"/etc/passwd"}, false, false, false},
	} {
		var cs []Change
		for _, p := range tc.changed {
			cs = append(cs, Change{Path: p, Added: tc.added})
		}
		why := Decide(inputsOfTiny, cs, tc.headers)
		if (why == "") != tc.skip {
			t.Errorf("%s: Decide(%q) = %q; want skip %t", tc.name, tc.changed, why, tc.skip)
		}
	}
	if why := Decide(nil, []Change{{Path: "Documentation/a.rst"}}, false); why == "" {
		t.Error("Decide without inputs skipped make; want make to run (no records)")
	}
}

// TestScanInputs reads kbuild's records as an O= build leaves them: an
// absolute srctree, a srctree of "..", $(wildcard) entries, generated
// headers in the build directory, a host header, objtool's records
// (relative to its own source directory) and a kept gcc depfile.
func TestScanInputs(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "linux")
	build := filepath.Join(src, "build") // srctree is ".." here
	write := func(p, s string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"init/main.c", "include/linux/kernel.h", "include/linux/maybe.h",
		"tools/objtool/arch/x86/decode.c", "tools/arch/x86/include/asm/insn.h", "arch/x86/lib/inat.h"} {
		write(filepath.Join(src, f), "")
	}
	write(filepath.Join(build, "init/.main.o.cmd"), `savedcmd_init/main.o := gcc -Wp,-MMD,init/.main.o.d -c -o init/main.o `+src+`/init/main.c

source_init/main.o := `+src+`/init/main.c

deps_init/main.o := \
  `+src+`/include/linux/kernel.h \
    $(wildcard include/config/SMP) \
    $(wildcard `+src+`/include/linux/maybe.h) \
  include/generated/autoconf.h \
  ../include/linux/kernel.h \
  /usr/include/stdio.h \

init/main.o: $(deps_init/main.o)

$(deps_init/main.o):
`)
	write(filepath.Join(build, "tools/objtool/arch/x86/.decode.o.cmd"), `source_decode.o := arch/x86/decode.c

deps_decode.o := \
  `+src+`/tools/arch/x86/include/asm/insn.h \
  arch/x86/../../../arch/x86/lib/inat.h \

`)
	write(filepath.Join(build, ".missing-syscalls.d"), "missing-syscalls: "+src+"/init/main.c \\\n "+src+"/arch/x86/lib/inat.h\n")
	write(filepath.Join(build, "rapido-modules/.x.cmd"), "source_x := /nowhere/x.c\n")
	write(filepath.Join(build, "fs/foo.ko"), "")
	in, err := ScanInputs(src, build)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"arch/x86/lib/inat.h", "include/linux/kernel.h", "include/linux/maybe.h", "init/main.c",
		"tools/arch/x86/include/asm/insn.h", "tools/objtool/arch/x86/decode.c"}
	if !reflect.DeepEqual(in.Source, want) {
		t.Errorf("Source = %q\nwant %q", in.Source, want)
	}
	if !reflect.DeepEqual(in.External, []string{"/usr/include/stdio.h"}) {
		t.Errorf("External = %q; want the host header only", in.External)
	}
	if !reflect.DeepEqual(in.Modules, []string{filepath.Join(build, "fs/foo.ko")}) {
		t.Errorf("Modules = %q; want the built module", in.Modules)
	}
	if in.Records != 3 {
		t.Errorf("Records = %d; want 3 (the two .cmd files and the depfile, not the modules dir)", in.Records)
	}
	for _, p := range in.Source {
		if strings.Contains(p, "build/") || strings.HasPrefix(p, "include/generated") {
			t.Errorf("a build output counted as an input: %s", p)
		}
	}
}

// TestDedupPath: a PATH that git nested twice finds the same programs.
func TestDedupPath(t *testing.T) {
	if got := dedupPath("/usr/lib/git-core:/usr/lib/git-core:/bin:/usr/bin:/bin"); got != "/usr/lib/git-core:/bin:/usr/bin" {
		t.Errorf("dedupPath = %q", got)
	}
}

// TestDropJobserver: an outer make's job server is not part of the build.
func TestDropJobserver(t *testing.T) {
	if got := dropJobserver(" -j2 --jobserver-auth=fifo:/tmp/GMfifo123 -- V=1"); got != "-- V=1" {
		t.Errorf("dropJobserver = %q", got)
	}
}

// TestScanInputsIncremental: a scan with the last scan's cache parses only
// the records whose size or time changed, and its result holds every path
// a full scan finds (a rewritten record's new paths among them); a path
// only a rewritten record named before stays (more inputs: a skip is only
// less likely). Another key voids the cache.
func TestScanInputsIncremental(t *testing.T) {
	dir := t.TempDir()
	src, build := filepath.Join(dir, "linux"), filepath.Join(dir, "build")
	write := func(rel, deps string) {
		t.Helper()
		p := filepath.Join(build, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var b strings.Builder
		b.WriteString("source_x.o := " + src + "/x.c\n\ndeps_x.o := \\\n")
		for _, d := range strings.Fields(deps) {
			b.WriteString("  " + src + "/" + d + " \\\n")
		}
		if err := os.WriteFile(p, []byte(b.String()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("init/.main.o.cmd", "include/a.h include/b.h")
	write("fs/.foo.o.cmd", "include/c.h")
	in, cache, err := scanInputs(src, build, nil)
	if err != nil || in.Records != 2 || len(cache.Records) != 2 {
		t.Fatalf("first scan: %+v, %v", in, err)
	}
	cache.Key = inputsCacheKey(src, build, "k1")
	if err := saveInputsCache(build, cache); err != nil {
		t.Fatal(err)
	}
	// A record that keeps its stamp is not read again: here its content
	// is replaced behind the stamp's back to show it.
	p := filepath.Join(build, "fs/.foo.o.cmd")
	fi, _ := os.Stat(p)
	os.WriteFile(p, []byte(strings.Replace(string(must(os.ReadFile(p))), "include/c.h", "include/X.h", 1)), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	// A rewritten record and a new one are.
	write("init/.main.o.cmd", "include/a.h include/d.h include/e.h")
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(build, "init/.main.o.cmd"), later, later)
	write("mm/.new.o.cmd", "include/f.h")
	prev := loadInputsCache(build, inputsCacheKey(src, build, "k1"))
	if prev == nil {
		t.Fatal("the saved cache did not load")
	}
	in, _, err = scanInputs(src, build, prev)
	want := []string{"include/a.h", "include/b.h", "include/c.h", "include/d.h", "include/e.h", "include/f.h", "x.c"}
	if err != nil || in.Records != 3 || !reflect.DeepEqual(in.Source, want) {
		t.Errorf("incremental scan: %d records, %q, %v; want 3 records, %q", in.Records, in.Source, err, want)
	}
	if loadInputsCache(build, inputsCacheKey(src, build, "k2")) != nil {
		t.Error("a cache saved under another key loaded")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
