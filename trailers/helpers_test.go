package trailers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// result is what one interpret-trailers run shows the world.
type result struct {
	Stdout, Stderr string
	Code           int
}

// hermeticEnv is the environment of every git and command the tests start:
// a throw-away HOME, no system config, nothing of the caller's git state.
func hermeticEnv(home string) []string {
	env := []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C", "TZ=UTC"}
	if p := os.Getenv("PATH"); p != "" {
		env = append(env, "PATH="+p)
	}
	return env
}

// needGit skips a test on a machine without git, saying so.
func needGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("SKIP: git not on PATH; the differential tests need the reference git interpret-trailers")
	}
}

// runGit runs the installed "git -c k=v... interpret-trailers argv" on input.
func runGit(t testing.TB, dir string, cfg []ConfigItem, argv []string, input []byte) result {
	t.Helper()
	var args []string
	for _, c := range cfg {
		if c.NoValue {
			args = append(args, "-c", c.Key)
		} else {
			args = append(args, "-c", c.Key+"="+c.Value)
		}
	}
	args = append(args, "interpret-trailers")
	args = append(args, argv...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = hermeticEnv(dir)
	cmd.Stdin = bytes.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("git %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("git %q on %q: timed out", args, input)
	}
	return result{out.String(), errb.String(), code}
}

// execRunner runs trailer commands as git does: stdin from /dev/null,
// stderr to the shared stream, the output captured.
func execRunner(dir string, stderr *strings.Builder) CommandRunner {
	return func(argv []string) ([]byte, error) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = hermeticEnv(dir)
		var eb bytes.Buffer
		cmd.Stderr = &eb
		out, err := cmd.Output()
		stderr.WriteString(eb.String())
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			fmt.Fprintf(stderr, "error: cannot run %s: No such file or directory\n", argv[0])
		}
		return out, err
	}
}

// runEngine is what "git interpret-trailers" does with stdin input, done by
// this package: option parsing, configuration, processing, messages.
func runEngine(dir string, cfg []ConfigItem, argv []string, input []byte) result {
	c, err := NewConfig(cfg)
	if err != nil {
		ce := err.(*ConfigError)
		return result{Stderr: "error: " + ce.Err.Error() + "\nfatal: unable to parse '" + ce.Key + "' from command-line config\n", Code: 128}
	}
	inv, aerr := ParseArgs("git interpret-trailers", argv)
	if aerr != nil {
		return result{aerr.Stdout, aerr.Stderr, aerr.Code}
	}
	if inv.InPlace && len(inv.Files) == 0 {
		return result{Stderr: "fatal: no input file given for in-place editing\n", Code: 128}
	}
	var stderr strings.Builder
	for _, w := range c.Warnings {
		stderr.WriteString(w + "\n")
	}
	opts := inv.Options
	opts.Warn = func(l string) { stderr.WriteString(l + "\n") }
	if len(inv.Files) == 0 {
		out, _ := Process(input, opts, c, inv.Args, execRunner(dir, &stderr))
		return result{string(out), stderr.String(), 0}
	}
	// Files, as the CLI reads them (never in place here).
	var stdout strings.Builder
	stderr.Reset()
	for i, f := range inv.Files {
		in, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return result{stdout.String(), stderr.String() + fmt.Sprintf("fatal: could not read input file '%s': No such file or directory\n", f), 128}
		}
		if i == 0 {
			for _, w := range c.Warnings {
				stderr.WriteString(w + "\n")
			}
		}
		out, _ := Process(in, opts, c, inv.Args, execRunner(dir, &stderr))
		stdout.Write(out)
	}
	return result{stdout.String(), stderr.String(), 0}
}
