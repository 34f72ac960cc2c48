package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

// The README and the reference under docs/ are the user's documentation:
// these tests keep them in step with the code, so a new command, flag or
// configuration key cannot land without its documentation. (Completion needs
// no such test: it asks the binary.)

// readme returns README.md followed by every page under docs/, so a test can
// look for a command or flag wherever the documentation puts it.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob("../../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		d, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(b, '\n'), d...)
	}
	return string(b)
}

// configPage returns docs/configuration.md, the page with the key table.
func configPage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeConfigTable checks that the README's configuration table lists
// exactly the keys git rapido reads (vmrun.Keys).
func TestReadmeConfigTable(t *testing.T) {
	table := configPage(t)
	var documented []string
	row := regexp.MustCompile("(?m)^\\| (`rapido\\.[^|]*)\\|")
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		for _, k := range regexp.MustCompile("`(rapido\\.[A-Za-z.<>]+)`").FindAllStringSubmatch(m[1], -1) {
			documented = append(documented, k[1])
		}
	}
	// Keys mentioned in a row's description (e.g. "also rapido.llvm").
	for _, m := range regexp.MustCompile("(?m)^\\|.*$").FindAllString(table, -1) {
		for _, k := range regexp.MustCompile("`(rapido\\.[A-Za-z.<>]+)`").FindAllStringSubmatch(m, -1) {
			documented = append(documented, k[1])
		}
	}
	var want []string
	for _, k := range vmrun.Keys {
		want = append(want, k.Name)
	}
	if diff := cmp.Diff(uniq(want), uniq(documented)); diff != "" {
		t.Errorf("README configuration table and vmrun.Keys differ (-code +README):\n%s", diff)
	}
}

// TestReadmeCommands checks that every visible command has its section in
// the README and that every long flag of it is mentioned there.
func TestReadmeCommands(t *testing.T) {
	doc := readme(t)
	for _, c := range commands() {
		if c.Hidden {
			continue
		}
		if !strings.Contains(doc, "git rapido "+c.Name) {
			t.Errorf("README never mentions \"git rapido %s\"", c.Name)
			continue
		}
		if c.Flags == nil {
			continue
		}
		fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
		c.Flags(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			if !strings.Contains(doc, "--"+f.Name) {
				t.Errorf("README never mentions %s's flag --%s", c.Name, f.Name)
			}
		})
	}
}

// TestReadmeConfigDefaults checks the README's default column against the
// table the code reads its defaults from.
func TestReadmeConfigDefaults(t *testing.T) {
	table := configPage(t)
	row := regexp.MustCompile("(?m)^\\| (`rapido\\.[^|]*)\\| ([^|]*)\\|")
	rows := row.FindAllStringSubmatch(table, -1)
	if len(rows) == 0 {
		t.Fatal("no configuration rows in the README")
	}
	for _, m := range rows {
		shown := strings.TrimSpace(strings.ReplaceAll(m[2], "`", ""))
		for _, k := range regexp.MustCompile("`(rapido\\.[A-Za-z.<>]+)`").FindAllStringSubmatch(m[1], -1) {
			key, ok := vmrun.LookupKey(k[1])
			if !ok {
				continue // TestReadmeConfigTable reports it
			}
			if want := key.ShownDefault(); shown != want {
				t.Errorf("README says %s defaults to %q; vmrun.Keys says %q", key.Name, shown, want)
			}
		}
	}
}

// TestReadmeFlagDefaults checks the defaults the README's option tables
// give ("default `10m`", "`auto` (default)") against the key each option
// overrides.
func TestReadmeFlagDefaults(t *testing.T) {
	row := regexp.MustCompile("(?m)^\\| `--[^|]*\\| `(rapido\\.[A-Za-z.<>]+)` \\| (.*) \\|$")
	def := regexp.MustCompile("default `([^`]*)`|`([^`]*)` \\(default\\)")
	n := 0
	for _, m := range row.FindAllStringSubmatch(readme(t), -1) {
		d := def.FindStringSubmatch(m[2])
		if d == nil {
			continue
		}
		n++
		k, ok := vmrun.LookupKey(m[1])
		if !ok {
			t.Errorf("README option row names unknown key %s", m[1])
			continue
		}
		if got := d[1] + d[2]; got != k.ShownDefault() {
			t.Errorf("README says %s defaults to %q; vmrun.Keys says %q", k.Name, got, k.ShownDefault())
		}
	}
	if n == 0 {
		t.Error("no option row with a default in the README")
	}
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// TestConfigKeysComplete checks that every rapido.* key the code reads is in
// vmrun.Keys (and so in the README and "git rapido config"): it scans the
// Go sources for the key literals.
func TestConfigKeysComplete(t *testing.T) {
	known := map[string]bool{}
	for _, k := range vmrun.Keys {
		known[strings.ToLower(k.Name)] = true
	}
	lit := regexp.MustCompile(`"(rapido\.[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9])"`)
	err := filepath.WalkDir("../../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != "../../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			k := m[1]
			if k == "rapido.verdict" || known[strings.ToLower(k)] || knownPrefix(k) {
				continue // rapido.verdict is the virtio port's name, not a key
			}
			t.Errorf("%s reads %s, which vmrun.Keys (vmrun/keys.go) and the README do not list", p, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
