package cut

import (
	"bytes"
	"debug/elf"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/git-rapido/git-rapido/vmrun/internal/elfdeps"
)

func elfdepsOf(p string) ([]string, error) { return elfdeps.NewResolver("").Deps(p) }

// TestELFClosure cuts a real dynamic host binary and checks, in the archive
// read back, that the loader and every DT_NEEDED library resolve inside the
// image, through the same symlink chains as on the host.
func TestELFClosure(t *testing.T) {
	init := staticInit(t)
	prog := ""
	for _, p := range []string{"/bin/ls", "/usr/bin/ls"} {
		if deps, err := elfdepsOf(p); err == nil && len(deps) > 0 {
			prog = p
			break
		}
	}
	if prog == "" {
		t.Skip("no dynamically linked ls on this host")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.cut": "bin " + prog + "\n"})
	p, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	a := readArchive(t, writeImage(t, p.Image))

	// The program, its PT_INTERP and its DT_NEEDED, read independently.
	f, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	needed, _ := f.ImportedLibraries()
	interp := ""
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_INTERP {
			b := make([]byte, pr.Filesz)
			pr.ReadAt(b, 0)
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	f.Close()
	if interp == "" || len(needed) == 0 {
		t.Fatalf("%s: PT_INTERP %q, DT_NEEDED %v; want both", prog, interp, needed)
	}
	for _, want := range []string{prog, interp} {
		got, err := a.resolve(want)
		if err != nil {
			t.Errorf("in the image: %v", err)
			continue
		}
		host, _ := filepath.EvalSymlinks(want)
		if got != host {
			t.Errorf("%s resolves to %s in the image, %s on the host", want, got, host)
		}
	}
	// Each DT_NEEDED name is found by the loader in one of the usual dirs.
	for _, lib := range needed {
		found := false
		for _, d := range elfdeps.NewResolver("").Dirs {
			if _, err := a.resolve(path.Join(d, lib)); err == nil {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("DT_NEEDED %s of %s does not resolve in any lib dir of the image", lib, prog)
		}
	}
	// Symlinks are kept as symlinks with the host's targets, and files
	// carry the host's bytes.
	a.checkFaithful(t, "/bin", "/lib", "/usr", "/sbin")
	nlinks := 0
	for _, q := range a.order {
		if a.kind(q) == "symlink" {
			nlinks++
		}
	}
	if fi, err := os.Lstat(interp); err == nil && fi.Mode()&os.ModeSymlink != 0 && nlinks == 0 {
		t.Errorf("the host's %s is a symlink but the image has no symlinks", interp)
	}
	if a.byPath["/init"].hdr.Mode&0o111 == 0 {
		t.Errorf("/init is not executable: %o", a.byPath["/init"].hdr.Mode)
	}
}

// stageModules makes a synthetic INSTALL_MOD_PATH like modules_install.
func stageModules(t *testing.T, release string) string {
	t.Helper()
	root := t.TempDir()
	base := "lib/modules/" + release + "/"
	writeFiles(t, root, map[string]string{
		base + "kernel/fs/foo/foo.ko":          "foo module",
		base + "kernel/lib/bar.ko":             "bar module",
		base + "kernel/lib/baz-qux.ko.xz":      "baz module",
		base + "kernel/lib/pre_dep.ko":         "pre module",
		base + "kernel/drivers/unrelated.ko":   "unrelated module",
		base + "kernel/drivers/other-thing.ko": "other module",
		base + "modules.dep": "kernel/fs/foo/foo.ko: kernel/lib/bar.ko kernel/lib/baz-qux.ko.xz\n" +
			"kernel/lib/bar.ko:\nkernel/lib/baz-qux.ko.xz:\nkernel/lib/pre_dep.ko:\n" +
			"kernel/drivers/unrelated.ko:\nkernel/drivers/other-thing.ko:\n",
		base + "modules.softdep":         "# Soft dependencies extracted from modules themselves.\nsoftdep foo pre: pre-dep post: missing_post\n",
		base + "modules.alias":           "alias fs-foo foo\n",
		base + "modules.dep.bin":         "\x00bin",
		base + "modules.builtin":         "kernel/fs/ext4/ext4.ko\n",
		base + "modules.builtin.modinfo": "x",
		base + "modules.order":           "kernel/fs/foo/foo.ko\n",
		base + "build":                   "->/nonexistent/build",
	})
	return root
}

func TestModulesClosure(t *testing.T) {
	init := staticInit(t)
	const rel = "6.1.0-rapido"
	mods := stageModules(t, rel)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.cut": "kmod foo\ntry-kmod nonexistent other_thing\n"})
	p, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, ModulesDir: mods, Release: rel})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if want := []string{"foo", "other_thing"}; !slices.Equal(p.Spec.Modules, want) {
		t.Errorf("Spec.Modules = %v; want %v (missing try-kmod dropped)", p.Spec.Modules, want)
	}
	a := readArchive(t, writeImage(t, p.Image))
	g := "/lib/modules/" + rel + "/"
	for _, f := range []string{"kernel/fs/foo/foo.ko", "kernel/lib/bar.ko", "kernel/lib/baz-qux.ko.xz",
		"kernel/lib/pre_dep.ko", "kernel/drivers/other-thing.ko",
		"modules.dep", "modules.softdep", "modules.alias", "modules.dep.bin", "modules.builtin",
		"modules.builtin.modinfo", "modules.order"} {
		r, ok := a.byPath[g+f]
		if !ok {
			t.Errorf("image lacks %s%s", g, f)
			continue
		}
		host, _ := os.ReadFile(filepath.Join(mods, g, f))
		if !bytes.Equal(r.data, host) {
			t.Errorf("%s%s: content differs from the staged file", g, f)
		}
	}
	for _, f := range []string{"kernel/drivers/unrelated.ko", "build"} {
		if _, ok := a.byPath[g+f]; ok {
			t.Errorf("image has %s%s, which nothing asked for", g, f)
		}
	}

	// Errors: a required module that is not there, and modules without a
	// staged tree.
	writeFiles(t, dir, map[string]string{"bad.cut": "dir /x\nkmod nosuchmod\n"})
	_, err = Resolve(Options{Manifest: filepath.Join(dir, "bad.cut"), Init: init, ModulesDir: mods, Release: rel})
	if err == nil || !strings.Contains(err.Error(), "nosuchmod") || !strings.Contains(err.Error(), "bad.cut:2:") {
		t.Errorf("kmod nosuchmod: %v; want bad.cut:2: ... nosuchmod", err)
	}
	writeFiles(t, dir, map[string]string{"try.cut": "try-kmod foo\n"})
	if p, err := Resolve(Options{Manifest: filepath.Join(dir, "try.cut"), Init: init}); err != nil || len(p.Spec.Modules) != 0 {
		t.Errorf("try-kmod without modules = %v, %v; want nothing and no error", p, err)
	}
	// A broken dependency of a requested module is an error.
	os.WriteFile(filepath.Join(mods, g, "modules.dep"), []byte("kernel/fs/foo/foo.ko: kernel/lib/gone.ko\n"), 0o644)
	if _, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, ModulesDir: mods, Release: rel}); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("missing dependency: %v; want an error naming gone", err)
	}
}

// TestDigestModules: the input digest leaves the modules' bytes out (they
// come from the tree under test); the full digest does not.
func TestDigestModules(t *testing.T) {
	init := staticInit(t)
	const rel = "6.1.0-rapido"
	mods := stageModules(t, rel)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.cut": "kmod foo\n"})
	digests := func() (string, string) {
		p, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, ModulesDir: mods, Release: rel})
		if err != nil {
			t.Fatal(err)
		}
		in, err1 := p.Image.Digest(false)
		full, err2 := p.Image.Digest(true)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		return in, full
	}
	in1, full1 := digests()
	os.WriteFile(filepath.Join(mods, "lib/modules", rel, "kernel/lib/bar.ko"), []byte("rebuilt bar"), 0o644)
	in2, full2 := digests()
	if in1 != in2 {
		t.Errorf("input digest changed with a module's bytes")
	}
	if full1 == full2 {
		t.Errorf("full digest did not change with a module's bytes")
	}
}

// reproManifest writes a manifest that exercises every entry kind.
func reproManifest(t *testing.T, dir string, reversed bool) string {
	lines := []string{
		"bin /bin/busybox",
		"file a.txt /etc/a.txt",
		"file b.txt /etc/b.txt",
		"dir /zz /a.b /a-b",
		"slink /etc/a.txt /a/link",
		"tree tree /srv",
		"autorun run.sh",
	}
	if reversed {
		slices.Reverse(lines)
	}
	writeFiles(t, dir, map[string]string{
		"a.txt": "a\n", "b.txt": "b\n", "run.sh": "#!/bin/sh\n",
		"tree/1": "1", "tree/sub/2": "2", "tree/l": "->1",
	})
	m := filepath.Join(dir, "m.cut")
	os.WriteFile(m, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	return m
}

func TestReproducible(t *testing.T) {
	init := staticInit(t)
	dir := t.TempDir()
	m := reproManifest(t, dir, false)
	cut := func(manifest string) []byte {
		p, err := Resolve(Options{Manifest: manifest, Init: init})
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		return writeImage(t, p.Image)
	}
	first := cut(m)
	// Host metadata that must not matter: times.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []string{"a.txt", "tree/1", "tree/sub", "tree"} {
		os.Chtimes(filepath.Join(dir, f), old, old)
	}
	second := cut(m)
	if !bytes.Equal(first, second) {
		t.Fatalf("two cuts of the same inputs differ (%d vs %d bytes)", len(first), len(second))
	}
	// Neither do the manifest's line order and where its files live on the
	// host: the image holds guest paths and contents only.
	dir2 := t.TempDir()
	if third := cut(reproManifest(t, dir2, true)); !bytes.Equal(first, third) {
		a1, a3 := readArchive(t, first), readArchive(t, third)
		t.Errorf("the image depends on the manifest's line order or location:\n%v\n%v", a1.order, a3.order)
	}

	a := readArchive(t, first)
	seen := map[string]bool{}
	for i, p := range a.order {
		r := a.byPath[p]
		if r.hdr.Uid != 0 || r.hdr.Guid != 0 || r.hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: uid %d gid %d mtime %v; want zeros", p, r.hdr.Uid, r.hdr.Guid, r.hdr.ModTime)
		}
		if d := path.Dir(p); d != "/" {
			if !seen[d] {
				t.Errorf("%s comes before its parent %s", p, d)
			}
			if a.kind(d) != "dir" && a.kind(d) != "symlink" {
				t.Errorf("parent %s of %s is a %s", d, p, a.kind(d))
			}
		}
		seen[p] = true
		if i > 0 && !lessPath(a.order[i-1], p) {
			t.Errorf("archive not sorted: %s before %s", a.order[i-1], p)
		}
	}
	for _, p := range []string{"/a", "/a-b", "/a.b", "/zz", "/srv/sub/2"} {
		if !seen[p] {
			t.Errorf("image lacks %s", p)
		}
	}
	if a.byPath["/tmp"].hdr.Mode&cpio.ModePerm != 0o1777&cpio.ModePerm || a.byPath["/tmp"].hdr.Mode&0o1000 == 0 {
		t.Errorf("/tmp mode %o; want 1777", a.byPath["/tmp"].hdr.Mode)
	}
	if l := a.byPath["/srv/l"]; a.kind("/srv/l") != "symlink" || l.hdr.Linkname != "1" {
		t.Errorf("/srv/l = %s -> %q; want a symlink to 1", a.kind("/srv/l"), l.hdr.Linkname)
	}
	if l := a.byPath["/a/link"]; l.hdr.Linkname != "/etc/a.txt" {
		t.Errorf("/a/link -> %q", l.hdr.Linkname)
	}
}

func TestLessPath(t *testing.T) {
	in := []string{"/a.b", "/a/z", "/b", "/a", "/a-b", "/a/b/c", "/a/b", "/A"}
	sort.Slice(in, func(i, j int) bool { return lessPath(in[i], in[j]) })
	want := []string{"/A", "/a", "/a/b", "/a/b/c", "/a/z", "/a-b", "/a.b", "/b"}
	if !slices.Equal(in, want) {
		t.Errorf("sorted = %v; want %v", in, want)
	}
}

func TestImageCache(t *testing.T) {
	init := staticInit(t)
	dir := t.TempDir()
	m := reproManifest(t, dir, false)
	p, err := Resolve(Options{Manifest: m, Init: init})
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "images")
	path1, sum1, err := p.Image.WriteCached(cache)
	if err != nil {
		t.Fatalf("WriteCached: %v", err)
	}
	if want, _ := p.Image.Digest(true); sum1 != want || filepath.Base(path1) != sum1+".cpio" {
		t.Errorf("WriteCached = %s, %s; want <digest %s>.cpio", path1, sum1, want)
	}
	got, _ := os.ReadFile(path1)
	if !bytes.Equal(got, writeImage(t, p.Image)) {
		t.Errorf("cached image differs from Write's output")
	}
	// A hit does not rewrite the file.
	fi1, _ := os.Stat(path1)
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(path1, old, old)
	path2, sum2, err := p.Image.WriteCached(cache)
	fi2, _ := os.Stat(path2)
	if err != nil || path2 != path1 || sum2 != sum1 || !fi2.ModTime().Equal(old) || !os.SameFile(fi1, fi2) {
		t.Errorf("second WriteCached = %s, %s, %v; want a cache hit on the same file", path2, sum2, err)
	}
	// Changed content gives another image.
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("changed\n"), 0o644)
	p3, _ := Resolve(Options{Manifest: m, Init: init})
	path3, sum3, err := p3.Image.WriteCached(cache)
	if err != nil || sum3 == sum1 || path3 == path1 {
		t.Errorf("after a change: %s, %v; want a new digest", sum3, err)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(cache)
	var names []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".id") {
			names = append(names, e.Name())
		}
	}
	if len(names) != 2 {
		t.Errorf("cache dir holds %v; want two images (and identity memos)", names)
	}
}

func TestPutConflicts(t *testing.T) {
	im := newImage()
	must := func(e *Entry) {
		if err := im.put(e); err != nil {
			t.Fatalf("put %+v: %v", e, err)
		}
	}
	must(&Entry{Path: "x//y/", Kind: Dir, Mode: 0o755})
	must(&Entry{Path: "/x/y", Kind: Dir, Mode: 0o700}) // dirs merge
	must(&Entry{Path: "/f", Kind: File, Data: []byte("1")})
	must(&Entry{Path: "/f", Kind: File, Data: []byte("1")}) // identical: fine
	must(&Entry{Path: "/", Kind: Dir})                      // the root is implicit
	if err := im.put(&Entry{Path: "/f", Kind: File, Data: []byte("2")}); err == nil {
		t.Error("put of different content at /f succeeded")
	}
	if err := im.put(&Entry{Path: "/x/y", Kind: Symlink, Target: "z"}); err == nil || !strings.Contains(err.Error(), "a directory") {
		t.Errorf("symlink over a directory: %v", err)
	}
	if got := im.Paths(); !slices.Equal(got, []string{"/f", "/x", "/x/y"}) {
		t.Errorf("Paths = %v", got)
	}
}

// TestUnpacksInOrder: on merged-/usr hosts a dynamic program brings the
// /lib -> usr/lib symlink, and kernel modules live under /lib/modules. The
// kernel unpacks the archive in order, so nothing may be placed under a
// symlink whose target does not exist yet.
func TestUnpacksInOrder(t *testing.T) {
	init := staticInit(t)
	const rel = "6.1.0-rapido"
	mods := stageModules(t, rel)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"m.cut": "bin /bin/ls\nkmod foo\nfile conf /lib/modprobe.d/rapido.conf\ndir /lib64/extra\n",
		"conf":  "options foo x=1\n",
	})
	p, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, ModulesDir: mods, Release: rel})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	a := readArchive(t, writeImage(t, p.Image))
	if failed := a.unpack(); len(failed) > 0 {
		t.Errorf("the guest would not get %d entries (created under a dangling symlink): %v", len(failed), failed)
	}
	// And the files are where the guest looks for them.
	for _, want := range []string{"/lib/modules/" + rel + "/kernel/fs/foo/foo.ko", "/lib/modules/" + rel + "/modules.dep",
		"/lib/modprobe.d/rapido.conf", "/bin/ls"} {
		if _, err := a.resolve(want); err != nil {
			t.Errorf("in the image: %v", err)
		}
	}
}
