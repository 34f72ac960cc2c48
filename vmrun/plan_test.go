package vmrun

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// keyFixture is a spec whose every input is a file of the test's own: a
// fake compiler that answers --version, a cut that includes another, copies
// a host program and a file, runs a host hook and a test script, and a
// static /init that is a copy of busybox.
type keyFixture struct {
	dir, cc, init, tool string
	spec                *Spec
}

func newKeyFixture(t *testing.T) *keyFixture {
	t.Helper()
	cleanEnv(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("SKIPPING: busybox (static, the stand-in /init) is not installed")
	}
	f := &keyFixture{dir: t.TempDir()}
	f.cc = filepath.Join(f.dir, "bin", "cc")
	f.init = filepath.Join(f.dir, "init")
	f.tool = filepath.Join(f.dir, "cuts", "tool")
	f.write(t, "bin/cc", "#!/bin/sh\necho \"$0 --version\" >>"+filepath.Join(f.dir, "cc.calls")+"\necho \"${0##*/} (Fake 1.0) 12.2.0\"\n", 0o755)
	f.write(t, "debug.config", "CONFIG_DEBUG_KERNEL=y\n", 0o644)
	f.write(t, "cuts/top.cut", "include other.cut\nbin ./tool\nfile data.txt /etc/data.txt\nhost-hook hook.sh\n", 0o644)
	f.write(t, "cuts/other.cut", "dir /srv\n", 0o644)
	f.write(t, "cuts/data.txt", "data\n", 0o644)
	f.write(t, "cuts/hook.sh", "#!/bin/sh\nexit 0\n", 0o755)
	f.write(t, "t.sh", "#!/bin/sh\nexit 0\n", 0o755)
	copyFile(t, bb, f.init)
	copyFile(t, bb, f.tool)
	s, err := SpecFromConfig(mapConfig{"rapido.kconfig": {"debug.config", "CONFIG_X=y"}}, f.dir, filepath.Join(f.dir, ".git/rapido"))
	if err != nil {
		t.Fatal(err)
	}
	s.Build.CC = f.cc
	s.Cut.Manifest = filepath.Join(f.dir, "cuts/top.cut")
	s.Cut.Script = filepath.Join(f.dir, "t.sh")
	s.Cut.InitBinary = f.init
	s.Cut.Timeout = time.Minute
	f.spec = s
	return f
}

func (f *keyFixture) write(t *testing.T, name, text string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	// A new modification time even within the clock's resolution: the
	// compiler's identity is cached by it.
	later := time.Now().Add(time.Duration(len(text)) * time.Second)
	os.Chtimes(p, later, later)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(to), 0o755)
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// appendBytes changes a binary's bytes as another build would, keeping
// it a valid static ELF.
func appendBytes(t *testing.T, p string) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write([]byte("-trimpath build\x00"))
	fh.Close()
}

// mustPlan resolves s or fails the test.
func mustPlan(t *testing.T, s *Spec) *Plan {
	t.Helper()
	p, err := NewPlan(s, nil)
	if err != nil {
		t.Fatalf("NewPlan: %v", err)
	}
	return p
}

func (f *keyFixture) key(t *testing.T, s *Spec) string {
	t.Helper()
	k, err := mustPlan(t, s).Key()
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	return k
}

// clone copies the spec deeply enough for one change.
func clone(s *Spec) *Spec {
	c := *s
	c.Build.Fragments = slices.Clone(s.Build.Fragments)
	c.QEMU.KernelArgs = slices.Clone(s.QEMU.KernelArgs)
	return &c
}

func TestKeyCoversWhatDecidesTheVerdict(t *testing.T) {
	f := newKeyFixture(t)
	k0 := f.key(t, f.spec)
	check := func(name string, wantSame bool, change func(s *Spec), undo func()) {
		t.Helper()
		s := clone(f.spec)
		change(s)
		k := f.key(t, s)
		if undo != nil {
			undo()
		}
		if (k == k0) != wantSame {
			if wantSame {
				t.Errorf("%s changed the key; it decides nothing", name)
			} else {
				t.Errorf("%s did not change the key", name)
			}
		}
	}
	nop := func(*Spec) {}
	file := func(name, text string, mode os.FileMode) func(*Spec) {
		return func(*Spec) { f.write(t, name, text, mode) }
	}
	restore := func(name string) func() {
		b, _ := os.ReadFile(filepath.Join(f.dir, name))
		fi, _ := os.Stat(filepath.Join(f.dir, name))
		return func() { f.write(t, name, string(b), fi.Mode().Perm()) }
	}
	// Kernel configuration inputs.
	check("kconfig item", false, func(s *Spec) { s.Build.Fragments[1] = "CONFIG_X=m" }, nil)
	check("fragment file content", false, file("debug.config", "CONFIG_DEBUG_KERNEL=n\n", 0o644), restore("debug.config"))
	check("base config", false, func(s *Spec) { s.Build.BaseConfig = "defconfig" }, nil)
	check("architecture", false, func(s *Spec) { s.Build.Arch = "arm64" }, nil)
	// The compiler by what it reports.
	check("compiler version", false, file("bin/cc", "#!/bin/sh\necho 'fakecc (Fake 1.1) 12.3.0'\n", 0o755), restore("bin/cc"))
	check("LLVM toolchain", false, func(s *Spec) { s.Build.LLVM = "1" }, nil)
	// What a build that adds warnings means.
	check("--warnings=fail", false, func(s *Spec) { s.Warnings = WarningsFail }, nil)
	check("--warnings=warn (the default)", true, func(s *Spec) { s.Warnings = WarningsWarn }, nil)
	// The cut and the test.
	check("manifest text", false, file("cuts/top.cut", "include other.cut\nbin ./tool\nfile data.txt /etc/data.txt\nhost-hook hook.sh\ndir /x\n", 0o644), restore("cuts/top.cut"))
	check("included manifest text", false, file("cuts/other.cut", "dir /srv /var\n", 0o644), restore("cuts/other.cut"))
	check("a file the cut copies", false, file("cuts/data.txt", "other data\n", 0o644), restore("cuts/data.txt"))
	check("host hook content", false, file("cuts/hook.sh", "#!/bin/sh\nexit 1\n", 0o755), restore("cuts/hook.sh"))
	check("test script content", false, file("t.sh", "#!/bin/sh\nexit 1\n", 0o755), restore("t.sh"))
	check("test command", false, func(s *Spec) { s.Cut.Script = ""; s.Cut.Command = []string{"true"} }, nil)
	check("test environment", false, func(s *Spec) { s.Cut.Env = map[string]string{"K": "V"} }, nil)
	check("test timeout", false, func(s *Spec) { s.Cut.Timeout = 2 * time.Minute }, nil)
	// VM settings.
	check("memory", false, func(s *Spec) { s.QEMU.Memory = "1G" }, nil)
	check("cpus", false, func(s *Spec) { s.QEMU.CPUs = 2 }, nil)
	check("kernel args", false, func(s *Spec) { s.QEMU.KernelArgs = []string{"loglevel=7"} }, nil)
	check("qemu extra args", false, func(s *Spec) { s.QEMU.ExtraArgs = []string{"-device", "x"} }, nil)
	check("network", false, func(s *Spec) { s.Net = NetOptions{Mode: NetUser} }, nil)

	// Not covered: the bytes of what comes from the host, and where
	// things live on this machine.
	check("/init bytes (another git-rapido build)", true, func(*Spec) { appendBytes(t, f.init) }, nil)
	check("bytes of a program bin copies", true, func(*Spec) { appendBytes(t, f.tool) }, nil)
	check("compiler path and name, same version", true, func(s *Spec) {
		other := filepath.Join(f.dir, "elsewhere", "gcc-12")
		copyFile(t, f.cc, other)
		s.Build.CC = other
	}, nil)
	check("compiler behind ccache", true, func(s *Spec) { s.Build.CC = "ccache " + f.cc }, nil)
	check("accel", true, func(s *Spec) { s.QEMU.Accel = "kvm" }, nil)
	check("qemu binary", true, func(s *Spec) { s.QEMU.Binary = "/other/qemu" }, nil)
	check("build dir and jobs", true, func(s *Spec) { s.Build.BuildDir = "/elsewhere"; s.Build.Jobs = 99 }, nil)
	check("image cache and logs", true, func(s *Spec) { s.Cut.CacheDir = "/cache"; s.LogRoot = "/logs" }, nil)
	check("nothing", true, nop, nil)
}

// The key moves with the tree: the same cut checked out elsewhere (another
// teammate's home) has the same key.
func TestKeyIndependentOfPaths(t *testing.T) {
	a := newKeyFixture(t)
	ka := a.key(t, a.spec)
	b := newKeyFixture(t)
	if kb := b.key(t, b.spec); kb != ka {
		t.Errorf("the same inputs in two directories gave two keys:\n%s\n%s", ka, kb)
	}
}

// "$CC --version" runs once per compiler binary: a cache hit starts no
// process once the compiler is known, and a changed compiler is asked again.
func TestCompilerIdentityCached(t *testing.T) {
	f := newKeyFixture(t)
	calls := func() int {
		b, _ := os.ReadFile(filepath.Join(f.dir, "cc.calls"))
		return strings.Count(string(b), "\n")
	}
	f.key(t, f.spec)
	f.key(t, f.spec)
	if n := calls(); n != 1 {
		t.Fatalf("compiler asked %d times for two plans; want 1", n)
	}
	p, _ := NewPlan(f.spec, nil)
	if got := p.Compiler(); got != "(Fake 1.0) 12.2.0" {
		t.Errorf("Compiler = %q", got)
	}
	os.Chtimes(f.cc, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	f.key(t, f.spec)
	if n := calls(); n != 2 {
		t.Errorf("compiler asked %d times after it changed; want 2", n)
	}
}

// Behind ccache's masquerade directory the real compiler is asked and
// remembered: an upgrade of it, not of ccache, is a new identity.
func TestCompilerBehindMasquerade(t *testing.T) {
	f := newKeyFixture(t)
	mask := filepath.Join(f.dir, "mask")
	os.MkdirAll(mask, 0o755)
	copyFile(t, f.cc, filepath.Join(f.dir, "launcher", "ccache"))
	if err := os.Symlink(filepath.Join(f.dir, "launcher", "ccache"), filepath.Join(mask, "fakecc")); err != nil {
		t.Fatal(err)
	}
	os.Symlink(f.cc, filepath.Join(f.dir, "bin", "fakecc"))
	t.Setenv("PATH", mask+string(filepath.ListSeparator)+filepath.Join(f.dir, "bin")+string(filepath.ListSeparator)+os.Getenv("PATH"))
	invoke, real, err := lookCompiler("fakecc")
	if err != nil || real != f.cc || invoke != filepath.Join(f.dir, "bin", "fakecc") {
		t.Errorf("lookCompiler(fakecc) = %q, %q, %v; want bin/fakecc and %s, past the ccache link", invoke, real, err, f.cc)
	}
}

func TestCompilerName(t *testing.T) {
	for _, c := range []struct {
		o    BuildOptions
		want string
	}{
		{BuildOptions{}, "gcc"},
		{BuildOptions{CrossCompile: "aarch64-linux-gnu-"}, "aarch64-linux-gnu-gcc"},
		{BuildOptions{LLVM: "1"}, "clang"},
		{BuildOptions{LLVM: "-17"}, "clang-17"},
		{BuildOptions{LLVM: "/opt/llvm/bin/"}, "/opt/llvm/bin/clang"},
		{BuildOptions{CC: "ccache clang", LLVM: "1"}, "clang"},
		{BuildOptions{CC: "/usr/bin/gcc-12"}, "/usr/bin/gcc-12"},
	} {
		if got := compilerName(c.o); got != c.want {
			t.Errorf("compilerName(%+v) = %q, want %q", c.o, got, c.want)
		}
	}
}
