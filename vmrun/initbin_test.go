package vmrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
)

func TestResolveInit(t *testing.T) {
	host := kbuild.HostArch()
	foreign := map[string]string{"x86_64": "arm64", "arm64": "x86_64"}[host]
	if host == "" {
		t.Skip("host architecture is neither x86_64 nor arm64")
	}
	put := func(p string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("\x7fELF"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A build tree: bin/git-rapido with bin/rapido-init-<arch>.
	tree := t.TempDir()
	self := filepath.Join(tree, "bin", "git-rapido")
	put(self)
	if got, err := resolveInit("", self, host); err != nil || got != self {
		t.Errorf("no init beside git-rapido, host arch: %q, %v; want git-rapido itself", got, err)
	}
	if _, err := resolveInit("", self, foreign); err == nil ||
		!strings.Contains(err.Error(), "no rapido-init-"+foreign+" next to "+self) || !strings.Contains(err.Error(), "make install") {
		t.Errorf("no init for the foreign %s: %v", foreign, err)
	}
	for _, a := range []string{host, foreign} {
		put(filepath.Join(tree, "bin", InitName(a)))
		if got, err := resolveInit("", self, a); err != nil || got != filepath.Join(tree, "bin", InitName(a)) {
			t.Errorf("build tree, %s: %q, %v", a, got, err)
		}
	}
	// Installed: <prefix>/libexec/git-rapido wins over bin/.
	put(filepath.Join(tree, "libexec", "git-rapido", InitName(foreign)))
	if got, err := resolveInit("", self, foreign); err != nil || got != filepath.Join(tree, "libexec", "git-rapido", InitName(foreign)) {
		t.Errorf("installed %s: %q, %v", foreign, got, err)
	}
	// RAPIDO_INIT wins over everything.
	if got, err := resolveInit("/x/init", self, foreign); err != nil || got != "/x/init" {
		t.Errorf("explicit: %q, %v", got, err)
	}
	if InitName("") != "rapido-init-x86_64" {
		t.Errorf("InitName(\"\") = %q", InitName(""))
	}
}

func TestForeignTools(t *testing.T) {
	if kbuild.HostArch() != "x86_64" {
		t.Skip("the foreign guest here is arm64 on an x86_64 host")
	}
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	s := &Spec{Build: BuildOptions{Arch: "arm64", CrossCompile: "aarch64-linux-gnu-"}, QEMU: QEMUOptions{Binary: "qemu-system-aarch64"}}
	err := foreignTools(s)
	if err == nil || err.Error() != "cannot test: arm64 guests need the cross compiler aarch64-linux-gnu-gcc: install Debian's gcc-aarch64-linux-gnu (or set rapido.crossCompile)" {
		t.Errorf("no cross compiler: %v", err)
	}
	os.WriteFile(filepath.Join(bin, "aarch64-linux-gnu-gcc"), []byte("#!/bin/sh\n"), 0o755)
	err = foreignTools(s)
	if err == nil || err.Error() != "cannot test: arm64 guests need qemu-system-aarch64: install Debian's qemu-system-arm (or set rapido.qemu)" {
		t.Errorf("no QEMU: %v", err)
	}
	os.WriteFile(filepath.Join(bin, "qemu-system-aarch64"), []byte("#!/bin/sh\n"), 0o755)
	if err := foreignTools(s); err != nil {
		t.Errorf("both installed: %v", err)
	}
	// A toolchain of the user's own is the user's business; the host's
	// own architecture needs nothing checked here.
	os.Remove(filepath.Join(bin, "aarch64-linux-gnu-gcc"))
	s.Build.LLVM = "1"
	if err := foreignTools(s); err != nil {
		t.Errorf("LLVM=1: %v", err)
	}
	if err := foreignTools(&Spec{Build: BuildOptions{Arch: "x86_64"}, QEMU: QEMUOptions{Binary: "nosuch"}}); err != nil {
		t.Errorf("x86_64 on x86_64: %v", err)
	}
}
