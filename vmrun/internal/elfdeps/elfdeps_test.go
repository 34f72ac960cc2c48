package elfdeps

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// hostBinary returns the first existing program among names, or skips.
func hostBinary(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(n); err == nil {
			return n
		}
	}
	t.Skipf("none of %v on this host", names)
	return ""
}

// interpOf reads PT_INTERP independently of the code under test.
func interpOf(t *testing.T, p string) string {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_INTERP {
			b := make([]byte, pr.Filesz)
			if _, err := pr.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}

func neededOf(t *testing.T, p string) []string {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("DT_NEEDED of %s: %v", p, err)
	}
	return libs
}

func TestDepsDynamicHostBinary(t *testing.T) {
	prog := hostBinary(t, "/bin/ls", "/usr/bin/ls")
	deps, err := NewResolver("").Deps(prog)
	if err != nil {
		t.Fatalf("Deps(%s): %v", prog, err)
	}
	interp := interpOf(t, prog)
	if interp == "" {
		t.Skipf("%s is static", prog)
	}
	if len(deps) == 0 || deps[0] != interp {
		t.Errorf("Deps(%s)[0] = %v; want the PT_INTERP %s first", prog, deps, interp)
	}
	bases := map[string]string{}
	for _, d := range deps {
		if !filepath.IsAbs(d) {
			t.Errorf("Deps(%s) has relative path %q", prog, d)
		}
		if _, err := os.Stat(d); err != nil {
			t.Errorf("Deps(%s) lists %s, which does not exist: %v", prog, d, err)
		}
		bases[filepath.Base(d)] = d
	}
	// The closure is transitive: every DT_NEEDED of the program and of
	// every library found is in the result.
	for _, obj := range append([]string{prog}, deps[1:]...) {
		for _, lib := range neededOf(t, obj) {
			if _, ok := bases[lib]; !ok {
				t.Errorf("%s needs %s, missing from Deps = %v", obj, lib, deps)
			}
		}
	}
	// No duplicates.
	seen := map[string]bool{}
	for _, d := range deps {
		if seen[d] {
			t.Errorf("Deps lists %s twice", d)
		}
		seen[d] = true
	}
}

func TestDepsStatic(t *testing.T) {
	bb := hostBinary(t, "/bin/busybox", "/usr/bin/busybox")
	if interpOf(t, bb) != "" {
		t.Skipf("%s is not static here", bb)
	}
	deps, err := NewResolver("").Deps(bb)
	if err != nil || len(deps) != 0 {
		t.Errorf("Deps(%s) = %v, %v; want no deps", bb, deps, err)
	}
}

func TestDepsNotELF(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"script":  "#!/bin/sh\necho hello from a script that is long enough to pass the ELF ident\n",
		"short":   "#!/bin/sh\n", // shorter than the 16-byte ELF ident
		"empty":   "",
		"badelf":  "\x7fELF\x09\x09\x09garbage garbage garbage garbage garbage garbage",
		"textdat": strings.Repeat("x", 200),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := NewResolver("").Deps(p)
		if !errors.Is(err, ErrNotELF) {
			t.Errorf("Deps(%s) error = %v; want ErrNotELF", name, err)
		}
	}
	_, err := NewResolver("").Deps(filepath.Join(dir, "missing"))
	if err == nil || errors.Is(err, ErrNotELF) {
		t.Errorf("Deps(missing) error = %v; want a read error that is not ErrNotELF", err)
	}
}

// The gcc-built fixture (libfoo.so in lib/ and programs using it) is built
// once per test binary: gcc is the slow part of these tests.
var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// gccFixture returns the fixture dir, or skips when gcc is not installed.
func gccFixture(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: cannot build test ELF files")
	}
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "elfdeps-fixture-")
		if err != nil {
			fixtureErr = err
			return
		}
		fixtureDir = dir
		os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
		os.WriteFile(filepath.Join(dir, "foo.c"), []byte("int foo(void){return 42;}\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "main.c"), []byte("int foo(void);\nint main(void){return foo();}\n"), 0o644)
		for _, args := range [][]string{
			{"-shared", "-fPIC", "-o", "lib/libfoo.so", "foo.c"},
			{"-o", "runpath", "main.c", "-Llib", "-lfoo", "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/lib"},
			{"-o", "rpath", "main.c", "-Llib", "-lfoo", "-Wl,--disable-new-dtags", "-Wl,-rpath,${ORIGIN}/lib"},
			{"-o", "norpath", "main.c", "-Llib", "-lfoo"},
		} {
			cmd := exec.Command("gcc", args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				fixtureErr = fmt.Errorf("gcc %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureDir
}

func TestDepsOrigin(t *testing.T) {
	dir := gccFixture(t)
	want := filepath.Join(dir, "lib", "libfoo.so")
	for _, prog := range []string{"runpath", "rpath"} {
		deps, err := NewResolver("").Deps(filepath.Join(dir, prog))
		if err != nil {
			t.Fatalf("Deps(%s): %v", prog, err)
		}
		if !slices.Contains(deps, want) {
			t.Errorf("Deps(%s) = %v; want %s found through $ORIGIN", prog, deps, want)
		}
		// libfoo's own needs (libc) follow.
		if !slices.ContainsFunc(deps, func(d string) bool { return strings.HasPrefix(filepath.Base(d), "libc.so") }) {
			t.Errorf("Deps(%s) = %v; want libc from libfoo's closure", prog, deps)
		}
	}
	// Without a RUNPATH the library is not on any search path.
	_, err := NewResolver("").Deps(filepath.Join(dir, "norpath"))
	if err == nil || !strings.Contains(err.Error(), "needs libfoo.so: not found") {
		t.Errorf("Deps(norpath) error = %v; want libfoo.so not found", err)
	}
	// ... unless the resolver is told where to look.
	r := NewResolver("")
	r.Dirs = append([]string{filepath.Join(dir, "lib")}, r.Dirs...)
	if deps, err := r.Deps(filepath.Join(dir, "norpath")); err != nil || !slices.Contains(deps, want) {
		t.Errorf("Deps(norpath) with lib dir = %v, %v; want %s", deps, err, want)
	}
}

// TestDepsSkipsIncompatible: a file with the right name that is not an ELF
// of the program's class and machine is passed over for the next dir.
func TestDepsSkipsIncompatible(t *testing.T) {
	dir := gccFixture(t)
	bogus := t.TempDir()
	os.MkdirAll(bogus, 0o755)
	os.WriteFile(filepath.Join(bogus, "libfoo.so"), []byte("INPUT(-lfoo)\n"), 0o644)
	r := NewResolver("")
	r.Dirs = append([]string{bogus, filepath.Join(dir, "lib")}, r.Dirs...)
	deps, err := r.Deps(filepath.Join(dir, "norpath"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(deps, filepath.Join(dir, "lib", "libfoo.so")) || slices.Contains(deps, filepath.Join(bogus, "libfoo.so")) {
		t.Errorf("Deps = %v; want lib/libfoo.so, not the linker script in bogus/", deps)
	}
}

// TestDepsRoot resolves inside a sysroot: results are guest paths.
func TestDepsRoot(t *testing.T) {
	dir := gccFixture(t)
	root := t.TempDir()
	for _, d := range []string{"bin", "opt/lib"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	copyFile(t, filepath.Join(dir, "norpath"), filepath.Join(root, "bin/prog"))
	copyFile(t, filepath.Join(dir, "lib/libfoo.so"), filepath.Join(root, "opt/lib/libfoo.so"))
	// libfoo needs libc, which needs the loader: give the sysroot the
	// host's under /opt/lib.
	hostDeps, err := NewResolver("").Deps("/bin/ls")
	if err != nil {
		t.Skip("no dynamic /bin/ls to borrow libc from")
	}
	for _, d := range hostDeps {
		if b := filepath.Base(d); strings.HasPrefix(b, "libc.so") || strings.HasPrefix(b, "ld-linux") {
			copyFile(t, d, filepath.Join(root, "opt/lib", filepath.Base(d)))
		}
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/ld.so.conf"), []byte("# sysroot\n/opt/lib\n"), 0o644)
	r := NewResolver(root)
	if r.Dirs[0] != "/opt/lib" {
		t.Fatalf("NewResolver(root).Dirs = %v; want the sysroot's ld.so.conf first", r.Dirs)
	}
	deps, err := r.Deps("/bin/prog")
	if err != nil {
		t.Fatalf("Deps in sysroot: %v", err)
	}
	if !slices.Contains(deps, "/opt/lib/libfoo.so") {
		t.Errorf("Deps in sysroot = %v; want /opt/lib/libfoo.so (a guest path)", deps)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestLdSoConf(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ld.so.conf"), []byte(
		"# comment\n/first\ninclude conf.d/*.conf\n\n/last # trailing comment\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "b.conf"), []byte("/b1\n/b2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "a.conf"), []byte("/a\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "ignored.txt"), []byte("/nope\n"), 0o644)
	// A self-include must not loop forever.
	os.WriteFile(filepath.Join(dir, "conf.d", "c.conf"), []byte("include "+filepath.Join(dir, "conf.d", "c.conf")+"\n"), 0o644)
	got := ldSoConf(filepath.Join(dir, "ld.so.conf"), 0)
	want := []string{"/first", "/a", "/b1", "/b2", "/last"}
	if !slices.Equal(got, want) {
		t.Errorf("ldSoConf = %v; want %v", got, want)
	}
	if got := ldSoConf(filepath.Join(dir, "missing"), 0); got != nil {
		t.Errorf("ldSoConf(missing) = %v; want nil", got)
	}
}

func TestExpandPaths(t *testing.T) {
	got := expandPaths([]string{"$ORIGIN/../lib:/abs::${ORIGIN}"}, "/opt/app/bin/prog")
	want := []string{"/opt/app/lib", "/abs", "/opt/app/bin"}
	if !slices.Equal(got, want) {
		t.Errorf("expandPaths = %v; want %v", got, want)
	}
}

// TestDepsInheritedRPATH: ld.so searches the DT_RPATH of the objects that
// loaded a library (the executable's too), but not their DT_RUNPATH. Here
// libfoo needs libbar and has no path of its own; the program's RPATH
// finds both, its RUNPATH only libfoo (such a program does not run: ld.so
// says "libbar.so: cannot open shared object file").
func TestDepsInheritedRPATH(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: cannot build test ELF files")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.MkdirAll(filepath.Join(dir, "lib2"), 0o755)
	os.WriteFile(filepath.Join(dir, "bar.c"), []byte("int bar(void){return 1;}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "foo.c"), []byte("int bar(void);\nint foo(void){return 41+bar();}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.c"), []byte("int foo(void);\nint main(void){return foo();}\n"), 0o644)
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", "lib2/libbar.so", "bar.c"},
		{"-shared", "-fPIC", "-o", "lib/libfoo.so", "foo.c", "-Llib2", "-lbar"},
		{"-o", "rpath", "main.c", "-Llib", "-lfoo", "-Wl,-rpath-link,lib2", "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/lib:$ORIGIN/lib2"},
		{"-o", "runpath", "main.c", "-Llib", "-lfoo", "-Wl,-rpath-link,lib2", "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/lib:$ORIGIN/lib2"},
	} {
		cmd := exec.Command("gcc", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	deps, err := NewResolver("").Deps(filepath.Join(dir, "rpath"))
	if err != nil {
		t.Fatalf("Deps(rpath): %v", err)
	}
	for _, want := range []string{filepath.Join(dir, "lib/libfoo.so"), filepath.Join(dir, "lib2/libbar.so")} {
		if !slices.Contains(deps, want) {
			t.Errorf("Deps(rpath) = %v; want %s", deps, want)
		}
	}
	if _, err := NewResolver("").Deps(filepath.Join(dir, "runpath")); err == nil || !strings.Contains(err.Error(), "needs libbar.so: not found") {
		t.Errorf("Deps(runpath) = %v; want libbar.so not found, as ld.so", err)
	}
}

func TestMachine(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	if _, err := Machine(script); err != ErrNotELF {
		t.Errorf("Machine(script) = %v; want ErrNotELF", err)
	}
	if _, err := Machine(filepath.Join(dir, "none")); err == nil || err == ErrNotELF {
		t.Errorf("Machine(missing) = %v; want the open error", err)
	}
	self, _ := os.Executable()
	m, err := Machine(self)
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if err != nil || (want != 0 && m != want) {
		t.Errorf("Machine(test binary) = %v, %v; want %v", m, err, want)
	}
	for m, name := range map[elf.Machine]string{elf.EM_X86_64: "x86-64", elf.EM_AARCH64: "arm64", elf.EM_PPC64: "PPC64"} {
		if got := MachineName(m); got != name {
			t.Errorf("MachineName(%v) = %q, want %q", m, got, name)
		}
	}
}
