package kbuild

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	config := `#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_A=y
# CONFIG_B is not set
CONFIG_C="old string"
CONFIG_KEEP=m
# CONFIG_E is not set
`
	got := Merge(config, []string{
		"CONFIG_B=m",
		"# CONFIG_A is not set",
		"CONFIG_D=y",
		`CONFIG_C="new string"`,
		"CONFIG_B=y", // the last setting of a symbol wins
		"CONFIG_F=0x10",
	})
	want := `#
# Automatically generated file; DO NOT EDIT.
#
# CONFIG_A is not set
CONFIG_B=y
CONFIG_C="new string"
CONFIG_KEEP=m
# CONFIG_E is not set
CONFIG_D=y
CONFIG_F=0x10
`
	if got != want {
		t.Errorf("Merge =\n%s\nwant\n%s", got, want)
	}
	empty := Merge("", []string{"CONFIG_X=y"})
	if empty != "\nCONFIG_X=y\n" && empty != "CONFIG_X=y\n" {
		t.Errorf("Merge into empty = %q", empty)
	}
	// Idempotent: merging the same settings again changes nothing.
	if again := Merge(empty, []string{"CONFIG_X=y"}); again != empty {
		t.Errorf("second Merge = %q; want %q", again, empty)
	}
}

func TestUnmet(t *testing.T) {
	final := "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_S=\"abc\"\n"
	got := Unmet(final, []string{
		"CONFIG_A=y",                          // met
		"CONFIG_B=y",                          // =m instead
		"CONFIG_C=y",                          // not set
		"CONFIG_D=y",                          // absent
		"# CONFIG_E is not set",               // absent means not set: met
		"CONFIG_S=\"abc\"",                    // met
		"CONFIG_N=n",                          // absent: met
		"CONFIG_X=y", "# CONFIG_X is not set", // the last request wins: met
	})
	want := []string{
		"CONFIG_B=y requested, but the final .config has CONFIG_B=m (a dependency is missing?)",
		"CONFIG_C=y requested, but the final .config has CONFIG_C=n (a dependency is missing?)",
		"CONFIG_D=y requested, but the final .config has CONFIG_D=n (a dependency is missing?)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Unmet =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := Unmet(final, nil); len(got) != 0 {
		t.Errorf("Unmet(nothing requested) = %v", got)
	}
}

func TestFragmentItems(t *testing.T) {
	dir := t.TempDir()
	frag := filepath.Join(dir, "debug.config")
	os.WriteFile(frag, []byte("# KASAN and friends\nCONFIG_KASAN=y\n\n  CONFIG_UBSAN=y  \n# CONFIG_SLUB is not set\nnot a setting\n"), 0o644)
	got, err := fragmentItems([]string{"CONFIG_A=y", frag, "# CONFIG_B is not set"})
	want := []string{"CONFIG_A=y", "CONFIG_KASAN=y", "CONFIG_UBSAN=y", "# CONFIG_SLUB is not set", "# CONFIG_B is not set"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("fragmentItems = %q, %v; want %q", got, err, want)
	}
	if _, err := fragmentItems([]string{filepath.Join(dir, "missing.config")}); err == nil {
		t.Error("fragmentItems(missing file) succeeded")
	}
	// An item that is not a setting is a mistake to report, not a line to
	// paste into .config.
	for _, bad := range []string{"CONFIG_KASAN", "CONFIG_KASAN y", "# CONFIG_X"} {
		if _, err := fragmentItems([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("fragmentItems(%q) = %v; want an error naming it", bad, err)
		}
	}
}

func TestMakeArgs(t *testing.T) {
	base := Options{SourceDir: "/src", BuildDir: "/build", Jobs: 4}
	for _, tc := range []struct {
		name   string
		mod    func(o *Options)
		ccache bool
		want   string
	}{
		{"plain", func(o *Options) {}, false, "-C /src O=/build -j4"},
		{"ccache", func(o *Options) {}, true, "-C /src O=/build -j4 CC=ccache gcc"},
		{"no-jobs", func(o *Options) { o.Jobs = 0 }, false, "-C /src O=/build"},
		{"x86_64-explicit", func(o *Options) { o.Arch = "x86_64" }, false, "-C /src O=/build -j4"},
		{"cross", func(o *Options) { o.Arch = "arm64"; o.CrossCompile = "aarch64-linux-gnu-" }, true,
			"-C /src O=/build -j4 ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CC=ccache aarch64-linux-gnu-gcc"},
		{"llvm", func(o *Options) { o.LLVM = "1" }, true, "-C /src O=/build -j4 LLVM=1"},
		{"llvm-cc", func(o *Options) { o.LLVM = "1"; o.CC = "clang" }, true, "-C /src O=/build -j4 LLVM=1 CC=ccache clang"},
		{"cc", func(o *Options) { o.CC = "gcc-12" }, false, "-C /src O=/build -j4 CC=gcc-12"},
		{"cc-already-ccache", func(o *Options) { o.CC = "ccache gcc-12" }, true, "-C /src O=/build -j4 CC=ccache gcc-12"},
	} {
		o := base
		tc.mod(&o)
		if got := strings.Join(MakeArgs(o, tc.ccache), " "); got != tc.want {
			t.Errorf("%s: MakeArgs = %q; want %q", tc.name, got, tc.want)
		}
	}
	// CC with a space stays one argument.
	args := MakeArgs(Options{SourceDir: "s", BuildDir: "b", CC: "gcc"}, true)
	if args[len(args)-1] != "CC=ccache gcc" {
		t.Errorf("MakeArgs = %q; want CC=ccache gcc as one argument", args)
	}
}

func TestErrorExcerpt(t *testing.T) {
	b, err := os.ReadFile("testdata/build-fail.log")
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, l := range strings.Split(string(b), "\n") {
		if isErrorLine(l) {
			errs = append(errs, l)
		}
	}
	got := ErrorExcerpt(errs)
	want := []string{
		"/src/linux/fs/rapido/demo.h:7:10: fatal error: missing.h: No such file or directory",
		"/src/linux/fs/rapido/other.c:12:5: error: 'foo' undeclared (first use in this function)",
		"ld: vmlinux.o: in function `start_kernel':",
		"main.c:(.init.text+0x42): undefined reference to `rapido_missing_symbol'",
		"make[4]: *** [/src/linux/scripts/Makefile.build:250: fs/rapido/demo.o] Error 1",
		"make[3]: *** [/src/linux/scripts/Makefile.build:500: fs/rapido] Error 2",
		"make[2]: *** [/src/linux/Makefile:1250: vmlinux] Error 2",
		"make[1]: *** [/src/linux/Makefile:2014: __sub-make] Error 2",
		"make: *** [Makefile:234: __sub-make] Error 2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ErrorExcerpt =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	many := make([]string, 50)
	for i := range many {
		many[i] = "make: *** x"
	}
	many = append(many, "a.c:1: error: late")
	capped := ErrorExcerpt(many)
	if len(capped) != 20 || capped[0] != "a.c:1: error: late" {
		t.Errorf("ErrorExcerpt(51 lines) = %d lines starting %q; want 20, compiler error first", len(capped), capped[0])
	}
	e := &Error{Log: "/logs/build.log", Excerpt: capped}
	if msg := e.Error(); msg != "build kernel: a.c:1: error: late (log: /logs/build.log)" {
		t.Errorf("Error() = %q", msg)
	}
	if msg := (&Error{Log: "/l"}).Error(); msg != "build kernel: build failed (log: /l)" {
		t.Errorf("Error() without excerpt = %q", msg)
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false, time.Now())
	p.phase("config")
	p.phase("build")
	for _, l := range []string{
		"  CC      kernel/fork.o", "  CC [M]  fs/foo.o", "  LD      vmlinux", "  AR      lib/lib.a",
		"make[1]: Entering directory", "kernel/fork.c:1: warning: x", "CC kernel/nope.o", "  CALL    scripts/x.sh",
	} {
		p.line(l)
	}
	p.done()
	if p.objects != 4 {
		t.Errorf("counted %d objects; want 4", p.objects)
	}
	want := "build: config\nbuild: build\nbuild: 4 objects compiled in 0s\n"
	if buf.String() != want {
		t.Errorf("plain progress = %q; want %q", buf.String(), want)
	}
	// On a terminal: one line redrawn in place, erased at the end.
	buf.Reset()
	p = newProgress(&buf, true, time.Now())
	p.phase("build")
	p.line("  CC      a.o")
	p.done()
	out := buf.String()
	if !strings.HasPrefix(out, "\r\033[Kbuild: build, 0 objects, 0s") || !strings.HasSuffix(out, "\r\033[K") || strings.Contains(out, "\n") {
		t.Errorf("terminal progress = %q", out)
	}
	if got := Render("build", 12, 1500*time.Millisecond); got != "build: build, 12 objects, 2s" {
		t.Errorf("Render = %q", got)
	}
	// No writer: counting still works, nothing is printed.
	p = newProgress(nil, true, time.Now())
	p.phase("build")
	p.line("  CC      a.o")
	p.done()
	if p.objects != 1 {
		t.Errorf("objects without writer = %d", p.objects)
	}
}

func TestConfigDigest(t *testing.T) {
	dir := t.TempDir()
	frag := filepath.Join(dir, "f.config")
	base := filepath.Join(dir, "base.config")
	os.WriteFile(frag, []byte("CONFIG_A=y\n"), 0o644)
	os.WriteFile(base, []byte("CONFIG_64BIT=y\n"), 0o644)
	o := Options{SourceDir: "/src", BuildDir: "/b1", Jobs: 2, Fragments: []string{frag, "CONFIG_B=y"}}
	d0, err := ConfigDigest(o)
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string, mod func(o *Options)) {
		t.Helper()
		o2 := o
		mod(&o2)
		d, err := ConfigDigest(o2)
		if err != nil || d != d0 {
			t.Errorf("%s changed the config digest (%v)", name, err)
		}
	}
	differs := func(name string, mod func(o *Options)) {
		t.Helper()
		o2 := o
		mod(&o2)
		d, err := ConfigDigest(o2)
		if err != nil || d == d0 {
			t.Errorf("%s did not change the config digest (%v)", name, err)
		}
	}
	same("build dir", func(o *Options) { o.BuildDir = "/b2"; o.SourceDir = "/elsewhere" })
	same("jobs", func(o *Options) { o.Jobs = 64 })
	same("explicit tinyconfig", func(o *Options) { o.BaseConfig = "tinyconfig" })
	differs("defconfig", func(o *Options) { o.BaseConfig = "defconfig" })
	differs("base file", func(o *Options) { o.BaseConfig = base })
	differs("item", func(o *Options) { o.Fragments = []string{frag, "CONFIG_B=m"} })
	differs("order", func(o *Options) { o.Fragments = []string{"CONFIG_B=y", frag} })
	differs("arch", func(o *Options) { o.Arch = "arm64" })
	differs("cc", func(o *Options) { o.CC = "clang" })
	differs("llvm", func(o *Options) { o.LLVM = "1" })
	os.WriteFile(frag, []byte("CONFIG_A=m\n"), 0o644)
	differs("fragment file content", func(o *Options) {})
	if _, err := ConfigDigest(Options{BaseConfig: filepath.Join(dir, "nope")}); err == nil {
		t.Error("ConfigDigest with a missing base config succeeded")
	}
}

func TestArchOf(t *testing.T) {
	if a, err := ArchOf(""); err != nil || a.Name != "x86" || a.Image != "bzImage" {
		t.Errorf("ArchOf(\"\") = %+v, %v", a, err)
	}
	if a, err := ArchOf("arm64"); err != nil || a.QEMU != "qemu-system-aarch64" {
		t.Errorf("ArchOf(arm64) = %+v, %v", a, err)
	}
	if _, err := ArchOf("sparc"); err == nil {
		t.Error("ArchOf(sparc) succeeded")
	}
}

func TestBuiltinFragment(t *testing.T) {
	common := []string{"CONFIG_BLK_DEV_INITRD=y", "CONFIG_DEVTMPFS=y",
		"CONFIG_VIRTIO_CONSOLE=y", "CONFIG_BINFMT_ELF=y", "CONFIG_FUTEX=y", "CONFIG_MODULES=y"}
	for _, tc := range []struct {
		arch      string
		want, not []string
	}{
		{"", []string{"CONFIG_SERIAL_8250_CONSOLE=y"}, []string{"CONFIG_SERIAL_AMBA_PL011=y"}},
		{"x86_64", []string{"CONFIG_SERIAL_8250_CONSOLE=y"}, []string{"CONFIG_SERIAL_AMBA_PL011=y"}},
		{"arm64", []string{"CONFIG_SERIAL_AMBA_PL011=y", "CONFIG_SERIAL_AMBA_PL011_CONSOLE=y", "CONFIG_PCI_HOST_GENERIC=y"},
			[]string{"CONFIG_SERIAL_8250=y", "CONFIG_SERIAL_8250_CONSOLE=y"}},
	} {
		lines := configLines(BuiltinFragment(tc.arch))
		for _, want := range append(tc.want, common...) {
			if !slices.Contains(lines, want) {
				t.Errorf("built-in fragment for %q lacks %s", tc.arch, want)
			}
		}
		for _, not := range tc.not {
			if slices.Contains(lines, not) {
				t.Errorf("built-in fragment for %q has %s", tc.arch, not)
			}
		}
	}
	// The configuration, and with it the cache key, tells the
	// architectures apart through their fragments too.
	x, _ := ConfigDigest(Options{Arch: "x86_64"})
	a, _ := ConfigDigest(Options{Arch: "arm64"})
	if x == a {
		t.Error("x86_64 and arm64 have the same config digest")
	}
}

func TestForeign(t *testing.T) {
	host := HostArch()
	if host == "" {
		t.Skip("host architecture is neither x86_64 nor arm64")
	}
	if Foreign(host) {
		t.Errorf("Foreign(%s) on a %s host", host, host)
	}
	other := map[string]string{"x86_64": "arm64", "arm64": "x86_64"}[host]
	if !Foreign(other) {
		t.Errorf("Foreign(%s) = false on a %s host", other, host)
	}
}

// TestMakeLauncher: a compiler launcher goes where kbuild calls the
// compiler, never in front of make. With ccache, CC keeps ccache and the
// launcher goes into CCACHE_PREFIX, so ccache still answers hits and CC
// (which kbuild records per object) does not change.
func TestMakeLauncher(t *testing.T) {
	base := Options{SourceDir: "/src", BuildDir: "/build", Jobs: 8, Launcher: "icecc"}
	for _, tc := range []struct {
		name    string
		mod     func(o *Options)
		ccache  bool
		want    string
		wantEnv string
	}{
		{"icecc", func(o *Options) {}, false, "-C /src O=/build -j8 CC=icecc gcc", ""},
		{"icecc-ccache", func(o *Options) {}, true, "-C /src O=/build -j8 CC=ccache gcc", "CCACHE_PREFIX=icecc"},
		{"distcc-path", func(o *Options) { o.Launcher = "/usr/bin/distcc" }, false, "-C /src O=/build -j8 CC=/usr/bin/distcc gcc", ""},
		{"cross", func(o *Options) { o.Arch = "arm64"; o.CrossCompile = "aarch64-linux-gnu-" }, false,
			"-C /src O=/build -j8 ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CC=icecc aarch64-linux-gnu-gcc", ""},
		{"llvm", func(o *Options) { o.LLVM = "1" }, false, "-C /src O=/build -j8 LLVM=1 CC=icecc clang", ""},
		{"llvm-version-ccache", func(o *Options) { o.LLVM = "-15" }, true, "-C /src O=/build -j8 LLVM=-15 CC=ccache clang-15", "CCACHE_PREFIX=icecc"},
		{"cc", func(o *Options) { o.CC = "gcc-12" }, false, "-C /src O=/build -j8 CC=icecc gcc-12", ""},
		{"cc-already-launched", func(o *Options) { o.CC = "icecc gcc-12" }, false, "-C /src O=/build -j8 CC=icecc gcc-12", ""},
	} {
		o := base
		tc.mod(&o)
		if got := strings.Join(MakeArgs(o, tc.ccache), " "); got != tc.want {
			t.Errorf("%s: MakeArgs = %q; want %q", tc.name, got, tc.want)
		}
		if got := strings.Join(MakeEnv(o, tc.ccache), " "); got != tc.wantEnv {
			t.Errorf("%s: MakeEnv = %q; want %q", tc.name, got, tc.wantEnv)
		}
	}
	// Without a launcher make's environment is the caller's.
	if env := MakeEnv(Options{SourceDir: "s", BuildDir: "b"}, true); env != nil {
		t.Errorf("MakeEnv without a launcher = %q; want nothing", env)
	}
}

// TestLauncherJobs: distcc says its hosts' capacity; icecc cannot be asked
// and gets a documented multiple of the local CPUs.
func TestLauncherJobs(t *testing.T) {
	dir := t.TempDir()
	distcc := filepath.Join(dir, "distcc")
	if err := os.WriteFile(distcc, []byte("#!/bin/sh\n[ \"$1\" = -j ] && echo 12\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := LauncherJobs(Options{Launcher: distcc}); got != 12 {
		t.Errorf("LauncherJobs(distcc answering 12) = %d; want 12", got)
	}
	if got, want := LauncherJobs(Options{Launcher: "icecc"}), IceccJobsPerCPU*runtime.NumCPU(); got != want {
		t.Errorf("LauncherJobs(icecc) = %d; want %d", got, want)
	}
	broken := filepath.Join(dir, "broken", "distcc")
	os.MkdirAll(filepath.Dir(broken), 0o755)
	os.WriteFile(broken, []byte("#!/bin/sh\necho no hosts >&2; exit 1\n"), 0o755)
	if got, want := LauncherJobs(Options{Launcher: broken}), IceccJobsPerCPU*runtime.NumCPU(); got != want {
		t.Errorf("LauncherJobs(failing distcc) = %d; want the fallback %d", got, want)
	}
}
