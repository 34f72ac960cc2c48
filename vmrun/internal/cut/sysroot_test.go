package cut

import (
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyFile copies the host file src to root+dst.
func copyFile(t *testing.T, src, root, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Skipf("SKIPPING: %v", err)
	}
	defer in.Close()
	p := filepath.Join(root, dst)
	os.MkdirAll(filepath.Dir(p), 0o755)
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// TestSysroot: with a sysroot, "bin NAME" is found in the sysroot's PATH,
// keeps its path in the guest, and its loader and libraries come from the
// sysroot, absolute symlinks resolved inside it; the host's own copies are
// never taken.
func TestSysroot(t *testing.T) {
	init := staticInit(t)
	host, err := elfdepsOf("/bin/true")
	if err != nil || len(host) < 2 {
		t.Skipf("SKIPPING: /bin/true is not dynamically linked here (%v, %v)", host, err)
	}
	root := t.TempDir()
	// A merged-/usr root: /bin -> usr/bin and /lib64 as an absolute link.
	copyFile(t, "/bin/true", root, "/usr/bin/true")
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	for _, d := range host {
		real, _ := filepath.EvalSymlinks(d)
		copyFile(t, real, root, "/usr"+real)
	}
	os.MkdirAll(filepath.Join(root, "lib"), 0o755)
	for _, d := range host {
		real, _ := filepath.EvalSymlinks(d)
		// Where the program asks for it (/lib64/ld-linux...,
		// /lib/x86_64-linux-gnu/libc.so.6): an absolute symlink into /usr.
		if _, err := os.Lstat(filepath.Join(root, d)); err != nil {
			os.MkdirAll(filepath.Dir(filepath.Join(root, d)), 0o755)
			os.Symlink("/usr"+real, filepath.Join(root, d))
		}
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.cut": "bin true\n"})
	p, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, Sysroot: root, Machine: elf.EM_X86_64})
	if err != nil {
		t.Fatal(err)
	}
	e := mustLookup(t, p.Image, "/usr/bin/true", File)
	if e.Source != filepath.Join(root, "/usr/bin/true") {
		t.Errorf("/usr/bin/true comes from %s; want the sysroot's", e.Source)
	}
	for _, d := range host {
		real, _ := filepath.EvalSymlinks(d)
		e := mustLookup(t, p.Image, "/usr"+real, File)
		if !strings.HasPrefix(e.Source, root+"/") {
			t.Errorf("%s comes from %s; want the sysroot", real, e.Source)
		}
	}
	// Not in the sysroot: refused, naming where it looked.
	writeFiles(t, dir, map[string]string{"n.cut": "bin nosuchprog\n"})
	if _, err := Resolve(Options{Manifest: filepath.Join(dir, "n.cut"), Init: init, Sysroot: root}); err == nil || !strings.Contains(err.Error(), "in the sysroot "+root) {
		t.Errorf("missing program: %v", err)
	}
}

// TestWrongMachine: a program, or the init, built for another machine
// than the guest's is refused at the line that asks for it, naming both
// and what to do.
func TestWrongMachine(t *testing.T) {
	init := staticInit(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.cut": "bin " + init + "\n", "empty.cut": "# nothing\n", "s.cut": "bin ./run.sh\n", "run.sh": "#!/bin/sh\n"})
	_, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, Arch: "arm64", Machine: elf.EM_AARCH64})
	if want := "bin " + init + " is x86-64, the guest is arm64: set rapido.sysroot"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("x86-64 program for an arm64 guest: %v; want %q", err, want)
	}
	_, err = Resolve(Options{Manifest: filepath.Join(dir, "empty.cut"), Init: init, Arch: "arm64", Machine: elf.EM_AARCH64})
	if want := "/init " + init + " is x86-64, the guest is arm64: set RAPIDO_INIT"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("x86-64 init for an arm64 guest: %v; want %q", err, want)
	}
	// A script has no machine; the right machine passes.
	if _, err := Resolve(Options{Manifest: filepath.Join(dir, "s.cut"), Init: init, Machine: elf.EM_X86_64}); err != nil {
		t.Errorf("script: %v", err)
	}
}
