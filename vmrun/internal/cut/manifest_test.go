package cut

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// staticInit is a static host binary standing in for git-rapido as /init
// (a test binary need not be static).
func staticInit(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if deps, err := elfdepsOf(p); err == nil && len(deps) == 0 {
			return p
		}
	}
	t.Skip("no static busybox on this host (apt-get install busybox-static)")
	return ""
}

// writeFiles creates files under dir; a value starting with "->" makes a
// symlink, a name ending in "/" a directory.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func mustLookup(t *testing.T, im *Image, p string, kind Kind) *Entry {
	t.Helper()
	e, ok := im.Lookup(p)
	if !ok {
		t.Fatalf("image has no %s; has %v", p, im.Paths())
	}
	if e.Kind != kind {
		t.Fatalf("image %s is kind %d; want %d", p, e.Kind, kind)
	}
	return e
}

func TestManifestDirectives(t *testing.T) {
	init := staticInit(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"data.txt":      "data\n",
		"test.sh":       "#!/bin/sh\necho test\n",
		"tree/x.txt":    "x\n",
		"tree/d/y.txt":  "y\n",
		"tree/empty/":   "",
		"tree/link":     "->x.txt",
		"sub/extra.cut": "# relative to sub/\nfile ../data.txt /etc/data2.txt\nautorun ../test.sh\n",
		"main.cut": `# a comment
   # an indented comment

bin /bin/busybox
try-bin no-such-program-rapido-test
try-kmod some_module
file data.txt /etc/data.txt
dir /mnt/a /mnt/b
slink /mnt/a /alink
tree tree /srv
	autorun   test.sh   
include sub/extra.cut
shell
`,
	})
	os.Chmod(filepath.Join(dir, "data.txt"), 0o640)
	manifest := filepath.Join(dir, "main.cut")
	p, err := Resolve(Options{Manifest: manifest, Init: init, Hostname: "vm9", TimeoutSec: 7,
		Command: []string{"echo", "hi"}, Env: map[string]string{"K": "V"}})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	im := p.Image
	if want := []string{manifest, filepath.Join(dir, "sub/extra.cut")}; !slices.Equal(p.Sources, want) {
		t.Errorf("Sources = %v; want %v", p.Sources, want)
	}
	mustLookup(t, im, "/usr/bin/busybox", File)
	if fi, err := os.Lstat("/bin"); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		host, _ := os.Readlink("/bin")
		if e := mustLookup(t, im, "/bin", Symlink); e.Target != host {
			t.Errorf("/bin -> %s; host has -> %s", e.Target, host)
		}
	}
	if e := mustLookup(t, im, "/etc/data.txt", File); e.Source != filepath.Join(dir, "data.txt") || e.Mode != 0o640 {
		t.Errorf("/etc/data.txt = %+v; want source data.txt, mode 0640", e)
	}
	if e := mustLookup(t, im, "/etc/data2.txt", File); e.Source != filepath.Join(dir, "data.txt") {
		t.Errorf("/etc/data2.txt source = %s; want the included manifest's ../data.txt", e.Source)
	}
	mustLookup(t, im, "/mnt/a", Dir)
	mustLookup(t, im, "/mnt/b", Dir)
	if e := mustLookup(t, im, "/alink", Symlink); e.Target != "/mnt/a" {
		t.Errorf("/alink -> %s; want /mnt/a", e.Target)
	}
	mustLookup(t, im, "/srv", Dir)
	mustLookup(t, im, "/srv/empty", Dir)
	mustLookup(t, im, "/srv/d/y.txt", File)
	if e := mustLookup(t, im, "/srv/link", Symlink); e.Target != "x.txt" {
		t.Errorf("/srv/link -> %s; want x.txt (kept as a symlink)", e.Target)
	}
	if e := mustLookup(t, im, "/srv/x.txt", File); e.Source != filepath.Join(dir, "tree/x.txt") {
		t.Errorf("/srv/x.txt source = %s", e.Source)
	}
	if e := mustLookup(t, im, "/init", File); e.Source != init || e.Mode != 0o755 {
		t.Errorf("/init = %+v; want %s 0755", e, init)
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/root"} {
		mustLookup(t, im, d, Dir)
	}
	wantRun := []string{"/rapido/autorun/01-test.sh", "/rapido/autorun/02-test.sh"}
	if !slices.Equal(p.Spec.Autorun, wantRun) {
		t.Errorf("Spec.Autorun = %v; want %v", p.Spec.Autorun, wantRun)
	}
	for _, a := range wantRun {
		if e := mustLookup(t, im, a, File); e.Mode != 0o755 || e.Source != filepath.Join(dir, "test.sh") {
			t.Errorf("%s = %+v", a, e)
		}
	}
	if !p.Spec.Shell || len(p.Spec.Modules) != 0 {
		t.Errorf("Spec = %+v; want Shell and no modules (try-kmod without modules is skipped)", p.Spec)
	}
	// The guest spec in the image is what /init will read.
	e := mustLookup(t, im, guest.SpecPath, File)
	var gs guest.Spec
	if err := json.Unmarshal(e.Data, &gs); err != nil {
		t.Fatalf("guest spec: %v", err)
	}
	if gs.Hostname != "vm9" || gs.TimeoutSec != 7 || !slices.Equal(gs.Command, []string{"echo", "hi"}) ||
		gs.Env["K"] != "V" || !slices.Equal(gs.Autorun, wantRun) || !gs.Shell {
		t.Errorf("guest spec = %+v", gs)
	}
}

var fileLine = regexp.MustCompile(`^(.+\.cut):(\d+): `)

func TestManifestErrors(t *testing.T) {
	init := staticInit(t)
	for _, tc := range []struct {
		name, text string
		line       int
		want       string
	}{
		{"unknown", "# c\n\nfrobnicate x\n", 3, `unknown directive "frobnicate"`},
		{"bin-missing", "bin no-such-program-rapido-test\n", 1, "not found"},
		{"bin-none", "bin\n", 1, "want one or more programs"},
		{"try-bin-none", "try-bin\n", 1, "want one or more programs"},
		{"kmod-none", "kmod\n", 1, "want one or more module names"},
		{"file-args", "dir /x\nfile only-one\n", 2, "file: want HOSTPATH GUESTPATH"},
		{"file-missing", "file nope.txt /nope\n", 1, "no such file"},
		{"file-dir", "file sub /x\n", 1, "not a regular file"},
		{"dir-none", "dir\n", 1, "want one or more paths"},
		{"slink-args", "slink a\n", 1, "slink: want TARGET LINK"},
		{"tree-missing", "tree nosuchdir /x\n", 1, "no such file"},
		{"tree-args", "tree a b c\n", 1, "want HOSTDIR GUESTDIR"},
		{"autorun-missing", "autorun nope.sh\n", 1, "no such file"},
		{"autorun-dir", "autorun sub\n", 1, "not a regular file"},
		{"include-missing", "include nope.cut\n", 1, "no such file"},
		{"include-unknown-cut", "include nosuchcut\n", 1, "no such built-in cut"},
		{"shell-args", "shell now\n", 1, "want no arguments"},
		{"conflict", "slink /a /x\nfile ok.txt /x\n", 2, "already in the image"},
		{"kmod-no-modules", "dir /a\nkmod foo\n", 2, "no modules staged"},
		{"file-to-root", "dir /a\nfile ok.txt /\n", 2, `file: GUESTPATH "/" names a directory`},
		{"file-to-dir", "file ok.txt /etc/\n", 1, `file: GUESTPATH "/etc/" names a directory`},
		{"file-to-dot", "file ok.txt .\n", 1, `names a directory`},
		{"slink-to-root", "slink /a /\n", 1, `slink: LINK "/" names a directory`},
		{"slink-to-dir", "slink /a /x/\n", 1, `slink: LINK "/x/" names a directory`},
		{"file-over-init", "dir /a\nfile ok.txt /init\n", 2, "add /init: already in the image from git rapido's own /init"},
		{"dir-over-init", "dir /init\n", 1, "add /init: already in the image"},
		{"slink-over-spec", "slink /a /rapido/spec.json\n", 1, "add /rapido/spec.json: already in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"m.cut": tc.text, "ok.txt": "ok\n", "sub/": ""})
			m := filepath.Join(dir, "m.cut")
			_, err := Resolve(Options{Manifest: m, Init: init})
			if err == nil {
				t.Fatalf("Resolve(%q) succeeded; want an error", tc.text)
			}
			var me *ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("error %q (%T) is not a *ManifestError", err, err)
			}
			if me.File != m || me.Line != tc.line {
				t.Errorf("error at %s:%d; want %s:%d (%v)", me.File, me.Line, m, tc.line, err)
			}
			if !strings.HasPrefix(err.Error(), m+":") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q; want %s:%d: ...%s...", err, m, tc.line, tc.want)
			}
		})
	}
}

// TestManifestErrorInInclude: the position is the included file's line.
func TestManifestErrorInInclude(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"top.cut":       "dir /a\ninclude lib/inner.cut\n",
		"lib/inner.cut": "# inner\ndir /b\nfile missing.txt /m\n",
	})
	_, err := Resolve(Options{Manifest: filepath.Join(dir, "top.cut"), Init: staticInit(t)})
	var me *ManifestError
	if !errors.As(err, &me) || me.File != filepath.Join(dir, "lib/inner.cut") || me.Line != 3 {
		t.Fatalf("error = %v; want lib/inner.cut:3", err)
	}
}

func TestManifestIncludeCycle(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.cut":    "dir /a\ninclude b.cut\n",
		"b.cut":    "# b\ninclude ./a.cut\n",
		"self.cut": "include self.cut\n",
	})
	for _, tc := range []struct {
		top, file string
		line      int
	}{
		{"a.cut", "b.cut", 2},
		{"self.cut", "self.cut", 1},
	} {
		_, err := Resolve(Options{Manifest: filepath.Join(dir, tc.top), Init: staticInit(t)})
		var me *ManifestError
		if !errors.As(err, &me) {
			t.Fatalf("%s: error = %v; want a *ManifestError", tc.top, err)
		}
		if filepath.Clean(me.File) != filepath.Join(dir, tc.file) || me.Line != tc.line || !strings.Contains(err.Error(), "include cycle") {
			t.Errorf("%s: error = %v; want %s:%d: ... include cycle ...", tc.top, err, tc.file, tc.line)
		}
	}
	// Including the same file twice without a cycle is fine.
	writeFiles(t, dir, map[string]string{
		"common.cut":  "dir /common\n",
		"x.cut":       "include common.cut\n",
		"diamond.cut": "include x.cut\ninclude common.cut\n",
	})
	if _, err := Resolve(Options{Manifest: filepath.Join(dir, "diamond.cut"), Init: staticInit(t)}); err != nil {
		t.Errorf("diamond include: %v", err)
	}
}

// TestBinRelativeToManifest: a relative program path is taken from the
// manifest's directory, like every other host path, not from the cwd.
func TestBinRelativeToManifest(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"cuts/tools/hello": "#!/bin/sh\necho hello\n",
		"cuts/m.cut":       "bin tools/hello ./tools/hello\n",
	})
	p, err := Resolve(Options{Manifest: filepath.Join(dir, "cuts/m.cut"), Init: staticInit(t)})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	host := filepath.Join(dir, "cuts/tools/hello")
	if e, ok := p.Image.Lookup(host); !ok || e.Source != host {
		t.Errorf("image lacks %s (bin of a script relative to the manifest); has %v", host, p.Image.Paths())
	}
}

func TestBuiltinCuts(t *testing.T) {
	init := staticInit(t)
	names := Builtins()
	for _, n := range []string{"base", "boot", "script", "shell"} {
		if !slices.Contains(names, n) {
			t.Errorf("Builtins() = %v; want %s", names, n)
		}
	}
	boot, err := Resolve(Options{Init: init}) // "" means boot
	if err != nil {
		t.Fatalf("Resolve(boot): %v", err)
	}
	if !slices.Equal(boot.Sources, []string{"builtin:boot"}) {
		t.Errorf("boot Sources = %v", boot.Sources)
	}
	// The boot cut's check is /init's own: no script, no shell, no
	// busybox, so the default image stays small.
	if !boot.Spec.BootCheck || len(boot.Spec.Autorun) != 0 {
		t.Errorf("boot spec = %+v; want the built-in boot check and no autorun", boot.Spec)
	}
	if slices.ContainsFunc(boot.Image.Paths(), func(p string) bool { return strings.HasSuffix(p, "/busybox") }) {
		t.Errorf("boot image carries busybox: %v", boot.Image.Paths())
	}
	shell, err := Resolve(Options{Name: "shell", Init: init})
	if err != nil || !shell.Spec.Shell {
		t.Errorf("Resolve(shell) = %+v, %v; want Spec.Shell", shell, err)
	}
	// A script selects the script cut and becomes its autorun.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"t.sh": "#!/bin/sh\nexit 3\n"})
	sc, err := Resolve(Options{Script: filepath.Join(dir, "t.sh"), Init: init})
	if err != nil {
		t.Fatalf("Resolve(--script): %v", err)
	}
	if sc.Sources[0] != "builtin:script" || !slices.Equal(sc.Spec.Autorun, []string{"/rapido/autorun/01-script"}) {
		t.Errorf("script cut: sources %v autorun %v", sc.Sources, sc.Spec.Autorun)
	}
	cmd, err := Resolve(Options{Command: []string{"true"}, Init: init})
	if err != nil || cmd.Sources[0] != "builtin:script" || !slices.Equal(cmd.Spec.Command, []string{"true"}) {
		t.Errorf("command cut: %+v, %v", cmd, err)
	}
	// A user cut of the same name wins over the built-in.
	writeFiles(t, dir, map[string]string{"boot.cut": "dir /mine\n"})
	user, err := Resolve(Options{SearchPath: []string{filepath.Join(dir, "none"), dir}, Init: init})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := user.Image.Lookup("/mine"); !ok || user.Sources[0] != filepath.Join(dir, "boot.cut") {
		t.Errorf("user boot.cut not used: sources %v", user.Sources)
	}
	if _, err := Resolve(Options{Name: "nosuch", Init: init}); err == nil || !strings.Contains(err.Error(), "boot") {
		t.Errorf("Resolve(nosuch) error = %v; want one listing the built-ins", err)
	}
}

func TestInitMustBeStatic(t *testing.T) {
	dyn := ""
	for _, p := range []string{"/bin/ls", "/usr/bin/ls"} {
		if deps, err := elfdepsOf(p); err == nil && len(deps) > 0 {
			dyn = p
			break
		}
	}
	if dyn == "" {
		t.Skip("no dynamic ls")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.cut": "dir /x\n"})
	_, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: dyn})
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("Resolve with dynamic /init: %v; want a refusal", err)
	}
}
