package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
)

func testEnv() (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Env{Stdout: &out, Stderr: &errb, Runner: &gitexec.Runner{}, DashAt: -1}, &out, &errb
}

func TestExitStatusMapping(t *testing.T) {
	cmd := &Command{Name: "x", Synopsis: []string{"x <arg>"}}
	for _, tc := range []struct {
		name      string
		err       error
		usageExit int
		code      int
		stderr    string
	}{
		{"nil", nil, 129, 0, ""},
		{"plain error is fatal", errors.New("read foo: no such file"), 129, 128, "fatal: read foo: no such file\n"},
		{"usage", Usagef("need <arg>"), 129, 129, "error: need <arg>\nusage: git rapido x <arg>\n"},
		{"usage with command's own code", Usagef("bad"), 128, 128, "error: bad\n"},
		{"silent exit", &ExitError{Code: 1}, 129, 1, ""},
		{"exit below 128 prints error:", &ExitError{Code: 2, Err: errors.New("kernel panic")}, 129, 2, "error: kernel panic\n"},
		{"hint", &HintError{Err: errors.New("no key"), Hint: "set rapido.signingKey"}, 129, 128, "fatal: no key\nhint: set rapido.signingKey\n"},
		{"interrupted", context.Canceled, 129, 130, "git-rapido: interrupted\n"},
		{"git's fatal is not doubled", &gitexec.Error{Args: []string{"git", "x"}, Stderr: "fatal: bad revision 'y'", ExitCode: 128, Err: errors.New("exit status 128")}, 129, 128, "fatal: git x: bad revision 'y'\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _, errb := testEnv()
			if got := exitStatus(env, cmd, tc.err, tc.usageExit); got != tc.code {
				t.Errorf("exitStatus(%v) = %d, want %d", tc.err, got, tc.code)
			}
			if !strings.HasPrefix(errb.String(), tc.stderr) {
				t.Errorf("stderr = %q, want prefix %q", errb.String(), tc.stderr)
			}
		})
	}
}

func TestDashAtAndOperands(t *testing.T) {
	var seen []string
	var dash int
	var verbose bool
	cmd := &Command{
		Name:  "probe",
		Flags: func(fs *pflag.FlagSet) { fs.BoolVarP(&verbose, "verbose", "v", false, "talk") },
		Run: func(ctx context.Context, env *Env, args []string) error {
			seen, dash = args, env.DashAt
			return nil
		},
	}
	env, _, _ := testEnv()
	if code := runCommand(context.Background(), env, cmd, []string{"-v", "a", "--", "uname", "-r"}); code != 0 {
		t.Fatalf("runCommand = %d", code)
	}
	if !verbose || strings.Join(seen, " ") != "a uname -r" || dash != 1 {
		t.Errorf("verbose=%v operands=%q dashAt=%d; want true, [a uname -r], 1", verbose, seen, dash)
	}
}

func TestOptionLinesGitStyle(t *testing.T) {
	var s string
	var b bool
	cmd := &Command{Name: "o", Flags: func(fs *pflag.FlagSet) {
		fs.StringVar(&s, "cut", "", "boot the image described by cut `name`")
		fs.BoolVarP(&b, "dry-run", "n", false, "print the plan")
	}}
	got := optionLines(cmd)
	if len(got) != 2 || got[0].spec != "--cut <name>" || got[1].spec != "-n, --dry-run" {
		t.Errorf("optionLines() = %+v", got)
	}
}

func TestSuggest(t *testing.T) {
	if got := suggest("hlep"); got != "help" {
		t.Errorf("suggest(hlep) = %q, want help", got)
	}
	if got := suggest("zzzzzzzz"); got != "" {
		t.Errorf("suggest(zzzzzzzz) = %q, want none", got)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		if c.Short == "" || len(c.Synopsis) == 0 {
			t.Errorf("command %q lacks Short or Synopsis", c.Name)
		}
		if c.Short != strings.ToLower(c.Short[:1])+c.Short[1:] || strings.HasSuffix(c.Short, ".") {
			t.Errorf("command %q: Short %q should be lower-case without a final period", c.Name, c.Short)
		}
	}
}

func TestCompletionListsVisibleCommandsAndFlags(t *testing.T) {
	words := completionWords()
	for _, w := range words {
		if strings.HasPrefix(w, "__") {
			t.Errorf("completion offers hidden command %q", w)
		}
	}
	if !strings.Contains(strings.Join(words, " "), "help") {
		t.Errorf("completion words %q lack help", words)
	}
	if got := completionWords("help"); strings.Join(got, " ") != "--man --man-dir=" {
		t.Errorf("completionWords(help) = %q, want [--man]", got)
	}
}
