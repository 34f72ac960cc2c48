package cli

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// The README is the user's reference: these tests keep it in step with the
// code, so a new command, flag or configuration key cannot land without its
// documentation. (Completion needs no such test: it asks the binary.)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeConfigTable checks that the README's configuration table lists
// exactly the keys git rapido reads (configKeys).
func TestReadmeConfigTable(t *testing.T) {
	doc := readme(t)
	_, table, ok := strings.Cut(doc, "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	var documented []string
	row := regexp.MustCompile("(?m)^\\| (`rapido\\.[^|]*)\\|")
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		for _, k := range regexp.MustCompile("`(rapido\\.[A-Za-z.]+)`").FindAllStringSubmatch(m[1], -1) {
			documented = append(documented, k[1])
		}
	}
	// Keys mentioned in a row's description (e.g. "also rapido.llvm").
	for _, m := range regexp.MustCompile("(?m)^\\|.*$").FindAllString(table, -1) {
		for _, k := range regexp.MustCompile("`(rapido\\.[A-Za-z.]+)`").FindAllStringSubmatch(m, -1) {
			documented = append(documented, k[1])
		}
	}
	var want []string
	for _, k := range configKeys {
		want = append(want, k.Key)
	}
	if diff := cmp.Diff(uniq(want), uniq(documented)); diff != "" {
		t.Errorf("README configuration table and configKeys differ (-code +README):\n%s", diff)
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
