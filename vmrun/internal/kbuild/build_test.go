package kbuild

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMake stands in for the kernel's make: it records its argv in
// $FAKE_MAKE_LOG and does just enough of each target for Build to go on.
// Kconfig is played by olddefconfig dropping CONFIG_IMPOSSIBLE.
const fakeMake = `#!/bin/sh
echo "${WRAPPED:+wrapped }$*" >> "$FAKE_MAKE_LOG"
for a; do case $a in O=*) O=${a#O=};; esac; done
case " $* " in
*" tinyconfig "*)
	printf 'CONFIG_64BIT=y\n# CONFIG_MODULES is not set\nCONFIG_TINY=y\n' > "$O/.config" ;;
*" olddefconfig "*)
	grep -v '^CONFIG_IMPOSSIBLE=' "$O/.config" > "$O/.config.new" && mv "$O/.config.new" "$O/.config" ;;
*" modules_install "*)
	for a; do case $a in INSTALL_MOD_PATH=*) P=${a#INSTALL_MOD_PATH=};; esac; done
	mkdir -p "$P/lib/modules/6.1.0-fake" && echo "kernel/fs/foo.ko:" > "$P/lib/modules/6.1.0-fake/modules.dep" ;;
*" bzImage "*|*" vmlinux "*)
	if [ -n "$FAKE_MAKE_FAIL" ]; then cat "$FAKE_MAKE_FAIL"; exit 2; fi
	echo "  CC      init/main.o"
	echo "  CC [M]  fs/foo.o"
	echo "  LD      vmlinux"
	# Like make, touch the outputs only when they are out of date; vmlinux
	# alone leaves the compressed image as it was.
	mkdir -p "$O/arch/x86/boot" "$O/include/config"
	linked=
	[ -e "$O/vmlinux" ] && [ "$O/.config" -ot "$O/vmlinux" ] && [ -z "$FAKE_MAKE_SOURCE_CHANGED" ] ||
		{ echo "vmlinux $FAKE_MAKE_SOURCE_CHANGED" > "$O/vmlinux"; linked=1; }
	case " $* " in *" bzImage "*)
		if ! { [ -e "$O/arch/x86/boot/bzImage" ] && [ "$O/vmlinux" -ot "$O/arch/x86/boot/bzImage" ]; }; then
			echo "  BUILD   arch/x86/boot/bzImage"
			cat "$O/vmlinux" > "$O/arch/x86/boot/bzImage"
		fi ;;
	esac
	[ -n "$linked" ] || exit 0
	# kbuild's record of what init/main.o read.
	prev=; for a; do [ "$prev" = -C ] && SRC=$a; prev=$a; done
	mkdir -p "$O/init"
	[ -n "$FAKE_MAKE_NO_CMD" ] || printf 'source_init/main.o := %s/init/main.c\n\ndeps_init/main.o := \\\n  %s/include/linux/kernel.h \\\n\n' "$SRC" "$SRC" > "$O/init/.main.o.cmd"
	echo 6.1.0-fake > "$O/include/config/kernel.release"
	echo kernel/fs/foo.ko > "$O/modules.order" ;;
*) echo "fake make: unexpected $*" >&2; exit 2 ;;
esac
`

type buildEnv struct {
	o   Options
	log string
}

func newBuildEnv(t testing.TB) *buildEnv {
	t.Helper()
	dir := t.TempDir()
	mk := filepath.Join(dir, "make")
	if err := os.WriteFile(mk, []byte(fakeMake), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "make.log")
	t.Setenv("FAKE_MAKE_LOG", log)
	t.Setenv("FAKE_MAKE_FAIL", "")
	t.Setenv("FAKE_MAKE_NO_CMD", "")
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "")
	t.Setenv("RAPIDO_NO_CCACHE", "1")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	return &buildEnv{log: log, o: Options{
		SourceDir: src, BuildDir: filepath.Join(dir, "build"), LogDir: filepath.Join(dir, "logs"),
		Jobs: 3, Make: mk, Fragments: []string{"CONFIG_IMPOSSIBLE=y", "CONFIG_EXTRA=y"},
	}}
}

// calls returns make's invocations since the last call, one per line.
func (b *buildEnv) calls(t *testing.T) []string {
	t.Helper()
	data, _ := os.ReadFile(b.log)
	os.Remove(b.log)
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestBuildWithFakeMake(t *testing.T) {
	b := newBuildEnv(t)
	ctx := context.Background()
	res, err := Build(ctx, b.o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	calls := b.calls(t)
	prefix := "-C " + b.o.SourceDir + " O=" + b.o.BuildDir + " -j3 "
	want := []string{prefix + "tinyconfig", prefix + "olddefconfig", prefix + "bzImage modules",
		prefix + "modules_install INSTALL_MOD_PATH=" + filepath.Join(b.o.BuildDir, "rapido-modules") + " INSTALL_MOD_STRIP=1"}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("make calls =\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if res.KernelImage != filepath.Join(b.o.BuildDir, "arch/x86/boot/bzImage") || res.KernelRelease != "6.1.0-fake" ||
		res.ModulesDir != filepath.Join(b.o.BuildDir, "rapido-modules") || res.Objects != 3 {
		t.Errorf("Result = %+v", res)
	}
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "CONFIG_IMPOSSIBLE=y requested") {
		t.Errorf("Warnings = %q; want the one option kconfig dropped", res.Warnings)
	}
	cfg, _ := os.ReadFile(filepath.Join(b.o.BuildDir, ".config"))
	for _, want := range []string{"CONFIG_TINY=y", "CONFIG_EXTRA=y", "CONFIG_MODULES=y", "CONFIG_SERIAL_8250_CONSOLE=y"} {
		if !strings.Contains(string(cfg), "\n"+want+"\n") {
			t.Errorf(".config lacks %s:\n%s", want, cfg)
		}
	}
	if logb, _ := os.ReadFile(res.Log); !strings.Contains(string(logb), "  CC      init/main.o") {
		t.Errorf("build log %s lacks make's output", res.Log)
	}

	// Nothing changed: no configuration step, and modules not reinstalled.
	if _, err := Build(ctx, b.o); err != nil {
		t.Fatal(err)
	}
	if calls := b.calls(t); len(calls) != 1 || !strings.HasSuffix(calls[0], " bzImage modules") {
		t.Errorf("no-op rebuild ran make %q; want only the build", calls)
	}

	// A new fragment reconfigures on top of the kept .config.
	b.o.Fragments = append(b.o.Fragments, "CONFIG_MORE=y")
	if _, err := Build(ctx, b.o); err != nil {
		t.Fatal(err)
	}
	if calls := b.calls(t); len(calls) < 2 || !strings.HasSuffix(calls[0], " olddefconfig") {
		t.Errorf("after a fragment change make ran %q; want olddefconfig, no tinyconfig", calls)
	}
	cfg, _ = os.ReadFile(filepath.Join(b.o.BuildDir, ".config"))
	if !strings.Contains(string(cfg), "CONFIG_MORE=y") {
		t.Errorf(".config lacks the new CONFIG_MORE=y")
	}
}

func TestBuildFailure(t *testing.T) {
	b := newBuildEnv(t)
	abs, _ := filepath.Abs("testdata/build-fail.log")
	t.Setenv("FAKE_MAKE_FAIL", abs)
	_, err := Build(context.Background(), b.o)
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("Build error = %v (%T); want *kbuild.Error", err, err)
	}
	if len(be.Excerpt) != 9 || be.Excerpt[0] != "/src/linux/fs/rapido/demo.h:7:10: fatal error: missing.h: No such file or directory" {
		t.Errorf("Excerpt = %q", be.Excerpt)
	}
	if be.Log != filepath.Join(b.o.LogDir, "build.log") || !strings.Contains(err.Error(), "(log: "+be.Log+")") {
		t.Errorf("error %q; want the log path", err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("error does not wrap make's exit status 2: %v", err)
	}
}

func TestBuildConfigErrors(t *testing.T) {
	b := newBuildEnv(t)
	var ce *ConfigError
	o := b.o
	o.Make = filepath.Join(t.TempDir(), "no-make")
	if _, err := Build(context.Background(), o); !errors.As(err, &ce) {
		t.Errorf("missing make: %v; want a ConfigError", err)
	}
	o = b.o
	o.Arch = "sparc"
	if _, err := Build(context.Background(), o); !errors.As(err, &ce) {
		t.Errorf("unknown arch: %v; want a ConfigError", err)
	}
	o = b.o
	o.Fragments = []string{"CONFIG_KASAN"}
	if _, err := Build(context.Background(), o); !errors.As(err, &ce) || !strings.Contains(err.Error(), "CONFIG_KASAN") {
		t.Errorf("bad kconfig item: %v; want a ConfigError naming it", err)
	}
}

// TestBuildWrapperAndCcache: rapido.makeWrapper goes in front of make, and
// ccache in front of the compiler when installed.
func TestBuildWrapperAndCcache(t *testing.T) {
	if _, err := exec.LookPath("ccache"); err != nil {
		t.Skip("ccache not installed")
	}
	b := newBuildEnv(t)
	t.Setenv("RAPIDO_NO_CCACHE", "")
	b.o.MakeWrapper = []string{"env", "WRAPPED=1"}
	if _, err := Build(context.Background(), b.o); err != nil {
		t.Fatal(err)
	}
	for _, c := range b.calls(t) {
		if !strings.HasPrefix(c, "wrapped ") || !strings.HasSuffix(strings.Fields(c)[5]+" "+strings.Fields(c)[6], "CC=ccache gcc") {
			t.Errorf("make call %q; want it wrapped and with CC=ccache gcc", c)
		}
	}
}

func TestBuildCancelled(t *testing.T) {
	b := newBuildEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build(ctx, b.o)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Build with a cancelled context = %v; want context.Canceled", err)
	}
}

// TestBuildDiskFull: a build that fails because the disk is full says so
// and is the machine's trouble (a ConfigError, never cached), not a broken
// tree.
func TestBuildDiskFull(t *testing.T) {
	b := newBuildEnv(t)
	abs, _ := filepath.Abs("testdata/build-nospace.log")
	t.Setenv("FAKE_MAKE_FAIL", abs)
	_, err := Build(context.Background(), b.o)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "disk is full") || !strings.Contains(err.Error(), b.o.BuildDir) {
		t.Fatalf("Build error = %v (%T); want a ConfigError naming the full disk and the build dir", err, err)
	}
}
