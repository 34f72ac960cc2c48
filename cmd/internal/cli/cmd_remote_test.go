package cli

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/vmrun/remote"
)

// TestRemoteCommandQuoting: the remote command line, with hostile values
// in every word it carries, reaches a POSIX shell as exactly its words —
// nothing is expanded, split or run.
func TestRemoteCommandQuoting(t *testing.T) {
	tg, err := remote.ParseURL("lab:/srv/it's $(touch pwned) `id`")
	if err != nil {
		t.Fatal(err)
	}
	settings := []remote.Setting{
		{Key: "rapido.kernelArgs", Value: `quiet';touch${IFS}pwned;'`},
		{Key: "rapido.qemuExtraArgs", Value: `"$HOME" \ * ? [a] ~ ; | & > < !`},
		{Key: "rapido.kconfig", Value: "# CONFIG_X is not set"},
	}
	words := remote.Command(tg, settings, 0, []string{strings.Repeat("a", 40)}, []string{"sh", "-c", "echo 'x' \"$y\""})
	line := gitexec.Quote(words...)
	out, err := exec.Command("sh", "-c", "printf '%s\\0' "+line).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if strings.Join(got, "\n") != strings.Join(words, "\n") {
		t.Errorf("the remote shell read\n%q\nwant\n%q", got, words)
	}
}
