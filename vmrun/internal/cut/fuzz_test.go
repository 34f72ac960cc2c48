package cut

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostPathVerbs take host paths, which the fuzzer must not point outside its
// fixture directory (a "tree /" would walk the whole host, an
// "include /dev/zero" never ends). Programs named without a slash still
// come from PATH.
var hostPathVerbs = map[string]int{"file": 1, "tree": 1, "autorun": 1, "include": 1, "bin": -1, "try-bin": -1}

// FuzzParseManifest feeds arbitrary manifests to the resolver: it must never
// panic, and every error about a manifest line must carry file:line.
func FuzzParseManifest(f *testing.F) {
	for _, seed := range []string{
		"# comment\n\nbin busybox\n",
		"try-bin nosuch sh\n",
		"kmod foo bar\ntry-kmod baz\n",
		"file data.txt /etc/data\n",
		"dir /a /b/c\n",
		"slink /target /link\n",
		"tree tree /srv\n",
		"autorun run.sh\n",
		"include other.cut\n",
		"include boot\n",
		"include self.cut\n",
		"shell\n",
		"file data.txt\n",
		"frob x y\n",
		"dir /x\nslink a /x\n",
		"\tdir\t/tabbed \r\n",
		"file data.txt /a/../../b\n",
		"slink x /\n",
		"bin tree/sub/tool\n",
	} {
		f.Add(seed)
	}
	init := staticInit(f)
	dir := f.TempDir()
	writeFiles(f, dir, map[string]string{
		"data.txt":      "data\n",
		"run.sh":        "#!/bin/sh\n",
		"other.cut":     "dir /other\n",
		"self.cut":      "include self.cut\n",
		"tree/a":        "a",
		"tree/sub/tool": "#!/bin/sh\n",
	})
	f.Setenv("PATH", "/usr/bin:/bin")
	f.Fuzz(func(t *testing.T, text string) {
		for _, line := range strings.Split(text, "\n") {
			fs := strings.Fields(line)
			if len(fs) < 2 {
				continue
			}
			n, ok := hostPathVerbs[fs[0]]
			if !ok {
				continue
			}
			args := fs[1:]
			if n > 0 {
				args = args[:n]
			}
			for _, a := range args {
				if filepath.IsAbs(a) || strings.Contains(a, "..") ||
					(fs[0] == "tree" && filepath.Clean(a) == ".") {
					t.Skip("host path outside the fixture")
				}
			}
		}
		// The fixture files live in dir: the manifest goes there too.
		m := filepath.Join(dir, "fuzz.cut")
		if err := os.WriteFile(m, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Resolve(Options{Manifest: m, Init: init})
		if err != nil {
			var me *ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("error without file:line: %v (%T)", err, err)
			}
			if me.Line < 1 || me.File == "" || !strings.HasPrefix(err.Error(), me.File+":") {
				t.Fatalf("bad position in %q", err)
			}
			return
		}
		// A resolved image writes and reads back, and unpacks in order
		// (user symlinks may loop or point at files: those are theirs).
		a := readArchive(t, writeImage(t, p.Image))
		if !strings.Contains(text, "slink") {
			if failed := a.unpack(); len(failed) > 0 {
				t.Fatalf("entries lost when unpacking: %v", failed)
			}
		}
	})
}
