package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestQuickTour runs every command of the README's quick tour, as written,
// in a kernel-shaped repository with the fake make and QEMU: a quick tour
// that does not run is the first thing a new user meets. The fixture steps
// between the commands (a regression to bisect, say) are the only lines
// not taken from the README; each README line must exit 0.
func TestQuickTour(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := quickTourCommands(t, string(b))
	if len(cmds) < 5 {
		t.Fatalf("quick tour has %d commands; the README layout changed?", len(cmds))
	}
	var sc strings.Builder
	sc.WriteString(quickTourSetup)
	for _, c := range cmds {
		if strings.Contains(c, " bisect ") {
			// Bisect needs a regression between v6.1 and HEAD.
			sc.WriteString("cp $WORK/fail rapido-scenario\nexec git commit -q -a -m 'mm: regress'\n")
		}
		if strings.Contains(c, " boot") {
			sc.WriteString("stdin $WORK/empty\n")
		}
		fmt.Fprintf(&sc, "exec bash -c %s\n", quoteScript(c))
	}
	sc.WriteString(quickTourFiles)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quick_tour.txtar"), []byte(sc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		Setup:               setupEnv,
		RequireExplicitExec: true,
	})
}

// quickTourCommands returns the command lines of the first sh block under
// "## Quick tour", without their trailing comments.
func quickTourCommands(t *testing.T, readme string) []string {
	_, rest, ok := strings.Cut(readme, "\n## Quick tour\n")
	if !ok {
		t.Fatal("README has no Quick tour section")
	}
	_, block, ok := strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatal("Quick tour has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	comment := regexp.MustCompile(`\s+#\s.*$`)
	var out []string
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(comment.ReplaceAllString(l, ""))
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// quoteScript quotes a shell line for testscript's exec argument syntax.
func quoteScript(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

const quickTourSetup = `env RAPIDO_MAKE=fake-make RAPIDO_QEMU=fake-qemu RAPIDO_INIT=/usr/bin/busybox
env GIT_EDITOR=true GIT_SEQUENCE_EDITOR=true
exec git init -q -b master upstream
cd upstream
cp $WORK/pass rapido-scenario
exec git add rapido-scenario
exec git commit -q -m 'Linux 6.1'
exec git tag v6.1
cd $WORK
exec git clone -q upstream linux
cd linux
exec git config user.name 'T Ester'
exec git config user.email tester@example.org
exec git config rapido.accel tcg
exec git rapido key generate --no-passphrase
exec git config rapido.signingKey $HOME/.config/git-rapido/signing-key.asc
exec git rapido key export -o $HOME/pub.asc
exec git config rapido.trustedKeys $HOME/pub.asc
mkdir t
cp $WORK/check.sh t/check.sh
cp $WORK/my-test.sh $HOME/my-test.sh
exec git commit -q --allow-empty -m 'mm: one'
exec git commit -q --allow-empty -m 'mm: two'
`

const quickTourFiles = `
-- pass --
pass
-- fail --
fail
-- empty --
-- check.sh --
#!/bin/sh
grep -q "^Linux version" /proc/version
-- my-test.sh --
#!/bin/sh
test -e /proc/self
`
