package vmrun

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// mapConfig is a git config: the last value of a key wins for Get.
type mapConfig map[string][]string

func (m mapConfig) Get(k string) (string, bool) {
	v := m[k]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func (m mapConfig) All(k string) []string { return append([]string(nil), m[k]...) }

// cleanEnv unsets every variable SpecFromConfig reads.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"ARCH", "CROSS_COMPILE", "LLVM", "CC", "RAPIDO_MAKE", "RAPIDO_QEMU", "RAPIDO_INIT", "RAPIDO_FAST_BOOT"} {
		t.Setenv(k, "")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}

func TestSpecFromConfigDefaults(t *testing.T) {
	cleanEnv(t)
	s, err := SpecFromConfig(mapConfig{}, "/src/linux", "/src/linux/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	want := &Spec{
		Build: BuildOptions{SourceDir: "/src/linux", BuildDir: "/src/linux/.git/rapido/build", Jobs: runtime.NumCPU(),
			BaseConfig: "tinyconfig", Make: "make"},
		QEMU:        QEMUOptions{Binary: "qemu-system-x86_64", Accel: "auto", Memory: "512M", CPUs: 1, FastBoot: "auto", ShareTransport: "auto"},
		BootTimeout: 60 * time.Second,
		Timeout:     10 * time.Minute,
		LogRoot:     "/src/linux/.git/rapido/logs",
		Cut:         CutOptions{SearchPath: []string{"/src/linux/.rapido/cuts"}},
		Warnings:    "warn",
	}
	if d := cmp.Diff(want, s, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(CutOptions{}, "Lookup")); d != "" {
		t.Errorf("SpecFromConfig(empty) mismatch (-want +got):\n%s", d)
	}
}

func TestSpecFromConfigKeys(t *testing.T) {
	cleanEnv(t)
	cfg := mapConfig{
		"rapido.buildDir":      {"out"},
		"rapido.arch":          {"arm64"},
		"rapido.crossCompile":  {"aarch64-linux-gnu-"},
		"rapido.llvm":          {"1"},
		"rapido.cc":            {"clang"},
		"rapido.kernelConfig":  {"configs/base.config"},
		"rapido.kconfig":       {"CONFIG_KASAN=y", "frag/debug.config", "/abs/x.config", "# CONFIG_SLUB is not set"},
		"rapido.makeWrapper":   {"icecc  --no-remote"},
		"rapido.jobs":          {"7"},
		"rapido.qemu":          {"/opt/qemu/bin/qemu-system-aarch64"},
		"rapido.accel":         {"tcg"},
		"rapido.memory":        {"2G"},
		"rapido.kernelArgs":    {"loglevel=7  kasan.fault=panic"},
		"rapido.qemuExtraArgs": {"-device virtio-rng-pci"},
		"rapido.cpus":          {"4"},
		"rapido.bootTimeout":   {"30"},
		"rapido.timeout":       {"5m"},
		"rapido.cut":           {"shell"},
		"rapido.cutPath":       {"/cuts/a:/cuts/b", "/cuts/c"},
		"rapido.warnings":      {"fail"},
		"rapido.sysroot":       {"sysroots/arm64"},
	}
	s, err := SpecFromConfig(cfg, "/top", "/top/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	want := &Spec{
		Build: BuildOptions{SourceDir: "/top", BuildDir: "/top/out", Jobs: 7, Arch: "arm64",
			CrossCompile: "aarch64-linux-gnu-", LLVM: "1", CC: "clang", MakeWrapper: []string{"icecc", "--no-remote"},
			BaseConfig: "/top/configs/base.config",
			Fragments:  []string{"CONFIG_KASAN=y", "/top/frag/debug.config", "/abs/x.config", "# CONFIG_SLUB is not set"},
			Make:       "make"},
		QEMU: QEMUOptions{Binary: "/opt/qemu/bin/qemu-system-aarch64", Accel: "tcg", Memory: "2G", CPUs: 4, FastBoot: "auto", ShareTransport: "auto",
			KernelArgs: []string{"loglevel=7", "kasan.fault=panic"}, ExtraArgs: []string{"-device", "virtio-rng-pci"}},
		BootTimeout: 30 * time.Second,
		Timeout:     5 * time.Minute,
		LogRoot:     "/top/.git/rapido/logs",
		Cut: CutOptions{Name: "shell", SearchPath: []string{"/cuts/a", "/cuts/b", "/cuts/c", "/top/.rapido/cuts"},
			Arch: "arm64", Sysroot: "/top/sysroots/arm64"},
		Warnings: "fail",
	}
	if d := cmp.Diff(want, s, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(CutOptions{}, "Lookup")); d != "" {
		t.Errorf("SpecFromConfig mismatch (-want +got):\n%s", d)
	}

	// The environment wins over configuration, as in kbuild.
	t.Setenv("ARCH", "x86")
	t.Setenv("CROSS_COMPILE", "x86_64-linux-gnu-")
	t.Setenv("CC", "gcc-12")
	t.Setenv("LLVM", "")
	t.Setenv("RAPIDO_MAKE", "/usr/bin/gmake")
	t.Setenv("RAPIDO_QEMU", "/fake/qemu")
	t.Setenv("RAPIDO_INIT", "/fake/init")
	delete(cfg, "rapido.qemu")
	s, err = SpecFromConfig(cfg, "/top", "/top/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	if s.Build.Arch != "x86_64" || s.Build.CrossCompile != "x86_64-linux-gnu-" || s.Build.CC != "gcc-12" ||
		s.Build.LLVM != "1" || s.Build.Make != "/usr/bin/gmake" || s.QEMU.Binary != "/fake/qemu" || s.Cut.InitBinary != "/fake/init" {
		t.Errorf("environment overrides: %+v %+v %+v", s.Build, s.QEMU, s.Cut)
	}
	// Paths: "~/" is the home directory, as for git's pathnames, and
	// relative ones are relative to the worktree top.
	t.Setenv("HOME", "/home/dev")
	s, err = SpecFromConfig(mapConfig{"rapido.buildDir": {"~/build"}, "rapido.kernelConfig": {"~/configs/k.config"},
		"rapido.kconfig": {"~/frag.config"}, "rapido.cutPath": {"~/cuts:rel/cuts"}}, "/top", "/top/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	if s.Build.BuildDir != "/home/dev/build" || s.Build.BaseConfig != "/home/dev/configs/k.config" ||
		s.Build.Fragments[0] != "/home/dev/frag.config" ||
		!slices.Equal(s.Cut.SearchPath, []string{"/home/dev/cuts", "/top/rel/cuts", "/top/.rapido/cuts"}) {
		t.Errorf("paths: build %q base %q frags %q cuts %q", s.Build.BuildDir, s.Build.BaseConfig, s.Build.Fragments, s.Cut.SearchPath)
	}
	// An absolute build dir and a named base config are kept as they are.
	cfg["rapido.buildDir"] = []string{"/scratch/build"}
	cfg["rapido.kernelConfig"] = []string{"x86_64_defconfig"}
	t.Setenv("ARCH", "")
	s, _ = SpecFromConfig(cfg, "/top", "/top/.git/rapido")
	if s.Build.BuildDir != "/scratch/build" || s.Build.BaseConfig != "x86_64_defconfig" || s.QEMU.Binary != "/fake/qemu" {
		t.Errorf("BuildDir %q BaseConfig %q", s.Build.BuildDir, s.Build.BaseConfig)
	}
}

func TestSpecFromConfigErrors(t *testing.T) {
	cleanEnv(t)
	for key, vals := range map[string][]string{
		"rapido.jobs":        {"0", "-2", "many", "1.5"},
		"rapido.cpus":        {"0", "two"},
		"rapido.bootTimeout": {"soon", "5 min"},
		"rapido.timeout":     {"1x", "m5"},
		"rapido.arch":        {"sparc"},
	} {
		for _, v := range vals {
			_, err := SpecFromConfig(mapConfig{key: {v}}, "/top", "/top/.git/rapido")
			if err == nil {
				t.Errorf("%s=%s accepted", key, v)
				continue
			}
			if !strings.Contains(err.Error(), v) {
				t.Errorf("%s=%s: error %q does not show the value", key, v, err)
			}
			if key != "rapido.arch" && !strings.HasPrefix(err.Error(), key+": ") {
				t.Errorf("%s=%s: error %q does not name the key", key, v, err)
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "0": 0, "90s": 90 * time.Second, "5m": 5 * time.Minute,
		"1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "5 m", "1.5", "m"} {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), "want a duration") {
			t.Errorf("ParseDuration(%q) error = %v", in, err)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for st, want := range map[Status]int{Pass: 0, Fail: 1, Crash: 2, Hang: 2, BuildFail: 125, Infra: 128, "bogus": 128} {
		if got := st.ExitCode(); got != want {
			t.Errorf("%s.ExitCode() = %d; want %d", st, got, want)
		}
	}
	tm := Timings{Build: 61500 * time.Millisecond, Cut: 12345 * time.Microsecond, KernelBoot: 700 * time.Millisecond,
		Init: 40 * time.Millisecond, Test: 2 * time.Second}
	if got := tm.String(); got != "build 1m1.5s, cut 12ms, boot 740ms, test 2s" {
		t.Errorf("Timings.String() = %q", got)
	}
}

// digestSpec is a spec whose digest needs no kernel tree: a static busybox
// plays git-rapido's /init.
func digestSpec(t *testing.T) (*Spec, string) {
	t.Helper()
	cleanEnv(t)
	init := ""
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			init = p
			break
		}
	}
	if init == "" {
		t.Skip("busybox not installed")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "debug.config"), []byte("CONFIG_DEBUG_KERNEL=y\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "t.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	t.Setenv("RAPIDO_INIT", init)
	s, err := SpecFromConfig(mapConfig{"rapido.kconfig": {"debug.config", "CONFIG_X=y"}}, dir, filepath.Join(dir, ".git/rapido"))
	if err != nil {
		t.Fatal(err)
	}
	s.Cut.Script = filepath.Join(dir, "t.sh")
	s.Cut.Timeout = time.Minute
	return s, dir
}

func TestSpecDigest(t *testing.T) {
	s, dir := digestSpec(t)
	d0, err := s.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if d1, _ := s.Digest(); d1 != d0 {
		t.Fatal("Digest is not stable")
	}
	check := func(name string, wantSame bool, mod func(s *Spec)) {
		t.Helper()
		c := *s
		c.Build.Fragments = slices.Clone(s.Build.Fragments)
		c.QEMU.KernelArgs = slices.Clone(s.QEMU.KernelArgs)
		c.Cut.Env = map[string]string{}
		for k, v := range s.Cut.Env {
			c.Cut.Env[k] = v
		}
		mod(&c)
		d, err := c.Digest()
		if err != nil {
			t.Errorf("%s: Digest: %v", name, err)
			return
		}
		if (d == d0) != wantSame {
			if wantSame {
				t.Errorf("%s changed the digest; it decides nothing", name)
			} else {
				t.Errorf("%s did not change the digest", name)
			}
		}
	}
	// Inputs that decide the verdict.
	check("kconfig item", false, func(s *Spec) { s.Build.Fragments[1] = "CONFIG_X=m" })
	check("base config", false, func(s *Spec) { s.Build.BaseConfig = "defconfig" })
	check("arch", false, func(s *Spec) { s.Build.Arch = "arm64" })
	check("compiler", false, func(s *Spec) { s.Build.CC = "clang" })
	check("memory", false, func(s *Spec) { s.QEMU.Memory = "1G" })
	check("cpus", false, func(s *Spec) { s.QEMU.CPUs = 2 })
	check("kernel args", false, func(s *Spec) { s.QEMU.KernelArgs = []string{"loglevel=7"} })
	check("qemu extra args", false, func(s *Spec) { s.QEMU.ExtraArgs = []string{"-device", "x"} })
	check("test timeout", false, func(s *Spec) { s.Cut.Timeout = 2 * time.Minute })
	check("cut", false, func(s *Spec) { s.Cut.Name = "shell"; s.Cut.Script = "" })
	check("command", false, func(s *Spec) { s.Cut.Command = []string{"true"} })
	check("test env", false, func(s *Spec) { s.Cut.Env["K"] = "V" })
	// Inputs that change how fast or where, not what.
	check("accel", true, func(s *Spec) { s.QEMU.Accel = "kvm" })
	check("qemu binary", true, func(s *Spec) { s.QEMU.Binary = "/other/qemu" })
	check("build dir", true, func(s *Spec) { s.Build.BuildDir = "/elsewhere" })
	check("jobs", true, func(s *Spec) { s.Build.Jobs = 99 })
	check("make wrapper", true, func(s *Spec) { s.Build.MakeWrapper = []string{"icecc"} })
	check("log root and label", true, func(s *Spec) { s.LogRoot = "/logs"; s.Label = "abc123" })
	check("image cache", true, func(s *Spec) { s.Cut.CacheDir = "/cache" })
	check("boot timeout", true, func(s *Spec) { s.BootTimeout = time.Hour })

	// File contents count, not just names.
	os.WriteFile(filepath.Join(dir, "debug.config"), []byte("CONFIG_DEBUG_KERNEL=n\n"), 0o644)
	check("fragment file content", false, func(s *Spec) {})
	os.WriteFile(filepath.Join(dir, "debug.config"), []byte("CONFIG_DEBUG_KERNEL=y\n"), 0o644)
	check("fragment file restored", true, func(s *Spec) {})
	os.WriteFile(filepath.Join(dir, "t.sh"), []byte("#!/bin/sh\nexit 1\n"), 0o755)
	check("test script content", false, func(s *Spec) {})

	s.Build.Fragments = append(s.Build.Fragments, filepath.Join(dir, "missing.config"))
	if _, err := s.Digest(); err == nil {
		t.Error("Digest with a missing fragment file succeeded")
	}
}

func TestCutPlan(t *testing.T) {
	s, dir := digestSpec(t)
	s.Cut.CacheDir = filepath.Join(dir, "images")
	p, err := PlanCut(s.Cut)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Paths(), "/init") || !slices.Contains(p.Paths(), "/rapido/autorun/01-script") {
		t.Errorf("Paths = %v", p.Paths())
	}
	cached, sum, err := p.WriteImage(context.Background())
	if err != nil || filepath.Dir(cached) != s.Cut.CacheDir || filepath.Base(cached) != sum+".cpio" {
		t.Fatalf("WriteImage = %s, %s, %v", cached, sum, err)
	}
	out := filepath.Join(dir, "out.cpio")
	if err := p.WriteImageTo(out); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(cached)
	b, _ := os.ReadFile(out)
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("WriteImageTo and the cached image differ (%d vs %d bytes)", len(a), len(b))
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".rapido-cut-") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := p.WriteImage(ctx); err != context.Canceled {
		t.Errorf("WriteImage(cancelled) = %v", err)
	}
	if names := CutNames(); !slices.Contains(names, "boot") {
		t.Errorf("CutNames = %v", names)
	}
}
