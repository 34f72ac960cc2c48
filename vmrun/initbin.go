package vmrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
)

// InitName is the file name of the small guest init for arch, as make build
// puts it next to git-rapido (bin/) and make install under
// <prefix>/libexec/git-rapido/.
func InitName(arch string) string {
	if arch == "" {
		arch = kbuild.DefaultArch
	}
	return "rapido-init-" + arch
}

// initCandidates are where the guest init for arch is looked for, given
// the running git-rapido's path: the installed libexec directory first,
// then next to the binary (a build tree's bin/).
func initCandidates(self, arch string) []string {
	dir := filepath.Dir(self)
	return []string{
		filepath.Join(dir, "..", "libexec", "git-rapido", InitName(arch)),
		filepath.Join(dir, InitName(arch)),
	}
}

// resolveInit picks the static program a cut installs as /init for a guest
// of arch. explicit (RAPIDO_INIT) wins; then the small dedicated init
// installed with git-rapido; then, for a guest of the host's architecture,
// git-rapido itself (it runs as the guest init too, only bigger). A guest
// of another architecture without its init cannot be cut. self is the
// running git-rapido.
func resolveInit(explicit, self, arch string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	for _, c := range initCandidates(self, arch) {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return filepath.Clean(c), nil
		}
	}
	if !kbuild.Foreign(arch) {
		return self, nil
	}
	return "", fmt.Errorf("find the guest init for %s: no %s next to %s or in ../libexec/git-rapido; "+
		"run 'make install' (or 'make build') in git rapido's source tree, which builds one per architecture, or set RAPIDO_INIT",
		arch, InitName(arch), self)
}

// foreignTools checks, before anything is built, that this host has what a
// guest of another architecture needs: Debian's cross compiler (unless the
// configuration names its own toolchain) and the QEMU that emulates it.
// The error is one line naming the Debian package to install.
func foreignTools(s *Spec) error {
	b := &s.Build
	if !kbuild.Foreign(b.Arch) {
		return nil
	}
	a, err := kbuild.ArchOf(b.Arch)
	if err != nil {
		return err
	}
	if b.LLVM == "" && b.CC == "" && b.CrossCompile == a.CrossCompile {
		if _, _, err := lookCompiler(a.CrossCompile + "gcc"); err != nil {
			return fmt.Errorf("cannot test: %s guests need the cross compiler %sgcc: install Debian's %s (or set rapido.crossCompile)",
				b.Arch, a.CrossCompile, a.CompilerPackage)
		}
	}
	if _, err := exec.LookPath(s.QEMU.Binary); err != nil {
		return fmt.Errorf("cannot test: %s guests need %s: install Debian's %s (or set rapido.qemu)", b.Arch, s.QEMU.Binary, a.QEMUPackage)
	}
	return nil
}

// CutTarget reads the guest's architecture and sysroot (rapido.arch,
// rapido.sysroot and their environment variables) for a cut made outside a
// run; top resolves a relative sysroot.
func CutTarget(cfg Config, top string) (arch, sysroot string, err error) {
	r := &keyReader{cfg: cfg}
	arch = r.get("rapido.arch")
	if arch == "x86" {
		arch = "x86_64"
	}
	if v := r.get("rapido.sysroot"); v != "" {
		sysroot = pathValue(top, v)
	}
	return arch, sysroot, r.err
}
