package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/trailers"
)

func init() {
	Register(func() *Command {
		c := &Command{
			Name: "trailers",
			Synopsis: []string{"trailers [--in-place] [--trim-empty] [(--trailer <token>[(=|:)<value>])...] [--parse] [<file>...]",
				"trailers collect [--dry-run] (<mbox> | -) [<range>]"},
			Short: "add or parse trailers, exactly as git interpret-trailers",
			Long: `A drop-in replacement for "git interpret-trailers", done in-process by the
same trailer engine git rapido uses when it appends Tested-by: trailers. It
reads each <file> (or the standard input) and writes the message with the
trailer block normalised and the --trailer arguments added, byte for byte as
git interpret-trailers does, with the same messages and exit statuses.

Options are parsed as git parses them: long options may be abbreviated,
take their value as --opt=value or --opt value, and have --no- forms;
--where, --if-exists and --if-missing apply to the --trailer options that
follow them, and --no-where etc. go back to the configuration.

Two behaviours follow current git rather than git 2.39: an input without a
final newline gets one first (git >= 2.47), and a "---" divider followed by
a scissors line is handled instead of hanging (git >= 2.45).

"git rapido trailers collect" adds the trailers given in replies on a
mailing list to the commits of a range; see "git rapido trailers collect
--help".`,
			Sections: []Section{
				{Title: "CONFIGURATION", Body: `Read once from git (all scopes, -c, includes):
trailer.separators, trailer.where, trailer.ifexists, trailer.ifmissing,
trailer.<token>.key, .where, .ifexists, .ifmissing, .command and .cmd, and
core.commentChar. Commands run as git runs them: through /bin/sh when they
contain shell metacharacters, the value as "$1" for .cmd or in place of the
first $ARG for .command, stdin from /dev/null, without git's repository
environment variables.`},
				{Title: "EXIT STATUS", Body: `0 on success (also when a trailer is dropped for an empty token or a
trailer command fails: both print "error:" as git does), 128 when an input
file cannot be read or rewritten, 129 for a usage error.`},
			},
			RawArgs: true,
			Flags: func(fs *pflag.FlagSet) {
				// Documentation only: RawArgs hands the arguments to
				// trailers.ParseArgs, which parses them as git does.
				var b bool
				var s string
				fs.BoolVar(&b, "in-place", false, "edit the files in place (same mode, atomic rename)")
				fs.BoolVar(&b, "trim-empty", false, "drop trailers whose value is empty")
				fs.StringVar(&s, "where", "", "where to place the following new trailers: `action` is after, before, end or start")
				fs.StringVar(&s, "if-exists", "", "`action` when the trailer already exists: addIfDifferentNeighbor, addIfDifferent, add, replace, doNothing")
				fs.StringVar(&s, "if-missing", "", "`action` when the trailer is missing: add or doNothing")
				fs.BoolVar(&b, "only-trailers", false, "output only the trailers")
				fs.BoolVar(&b, "only-input", false, "do not add trailers, not even from configured commands")
				fs.BoolVar(&b, "unfold", false, "join whitespace-continued values")
				fs.BoolVar(&b, "parse", false, "same as --only-trailers --only-input --unfold")
				fs.BoolVar(&b, "no-divider", false, `do not treat "---" as the end of the message`)
				fs.StringVar(&s, "trailer", "", "add the `trailer` token[(=|:)value]")
			},
		}
		c.Run = func(ctx context.Context, env *Env, args []string) error {
			return runTrailers(ctx, env, c, args)
		}
		return c
	})
}

const trailersProg = "git rapido trailers"

func runTrailers(ctx context.Context, env *Env, c *Command, args []string) error {
	if len(args) > 0 && args[0] == "collect" {
		// "git rapido trailers collect": a file named "collect" is
		// ./collect, as for any command with subcommands.
		if code := runCommand(ctx, env, collectCommand(), args[1:]); code != 0 {
			return &ExitError{Code: code}
		}
		return nil
	}
	// git reads core.commentChar before it parses options, so a bad one
	// wins over a bad option.
	cfg, err := trailerConfig(ctx, env)
	if err != nil {
		return err
	}
	inv, aerr := trailers.ParseArgs(trailersProg, args)

	if aerr != nil {
		io.WriteString(env.Stdout, aerr.Stdout)
		io.WriteString(env.Stderr, aerr.Stderr)
		return &ExitError{Code: aerr.Code}
	}
	if inv.Help {
		printHelp(env.Stdout, c)
		return nil
	}
	if inv.InPlace && len(inv.Files) == 0 {
		return errors.New("no input file given for in-place editing")
	}
	t := &trailersRun{env: env, cfg: cfg, inv: inv, run: newTrailerRunner(ctx, env)}
	if len(inv.Files) == 0 {
		in, err := io.ReadAll(env.Stdin)
		if err != nil {
			return fmt.Errorf("could not read from stdin: %s", strerror(err))
		}
		_, err = env.Stdout.Write(t.process(in))
		return err
	}
	for _, f := range inv.Files {
		if err := t.file(f); err != nil {
			return err
		}
	}
	return nil
}

// trailerConfig is the trailer engine's configuration from git's, read once
// per invocation. Other commands that add or read trailers (test, review,
// log, verify) use it so that they see what git interpret-trailers sees. A
// value git refuses is reported as git does: "error: ..." printed here, and
// a returned error that becomes "fatal: ...".
func trailerConfig(ctx context.Context, env *Env) (*trailers.Config, error) {
	gcfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := trailers.NewConfig(configItems(gcfg))
	var ce *trailers.ConfigError
	if errors.As(err, &ce) {
		fmt.Fprintf(env.Stderr, "error: %s\n", ce.Err)
		if e, ok := gcfg.Lookup(ce.Key); ok && e.Scope != "command" {
			// git adds " at line N", which git config --list does not tell.
			return nil, fmt.Errorf("bad config variable '%s' in file '%s'", ce.Key, strings.TrimPrefix(e.Origin, "file:"))
		}
		return nil, fmt.Errorf("unable to parse '%s' from command-line config", ce.Key)
	}
	return cfg, err
}

// configItems hands git's configuration to the trailer engine in git's order.
func configItems(c *gitexec.Config) []trailers.ConfigItem {
	items := make([]trailers.ConfigItem, 0, len(c.Entries))
	for _, e := range c.Entries {
		items = append(items, trailers.ConfigItem{Key: e.Key, Value: e.Value, NoValue: e.NoVal})
	}
	return items
}

type trailersRun struct {
	env    *Env
	cfg    *trailers.Config
	inv    *trailers.Invocation
	run    trailers.CommandRunner
	warned bool
}

// process runs the engine on one input. The configuration's warnings come
// out once, with the first input, where git prints them.
func (t *trailersRun) process(in []byte) []byte {
	if !t.warned {
		t.warned = true
		for _, w := range t.cfg.Warnings {
			fmt.Fprintln(t.env.Stderr, w)
		}
	}
	opts := t.inv.Options
	opts.Warn = func(l string) { fmt.Fprintln(t.env.Stderr, l) }
	out, _ := trailers.Process(in, opts, t.cfg, t.inv.Args, t.run)
	return out
}

func (t *trailersRun) file(name string) error {
	in, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("could not read input file '%s': %s", name, strerror(err))
	}
	if !t.inv.InPlace {
		out := t.process(in)
		_, err := t.env.Stdout.Write(out)
		return err
	}
	st, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("could not stat %s: %s", name, strerror(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("file %s is not a regular file", name)
	}
	if st.Mode().Perm()&0o200 == 0 {
		return fmt.Errorf("file %s is not writable by user", name)
	}
	// Like git: a temporary file next to the original, created with the
	// original's mode (the umask applies), then renamed over it.
	dir := filepath.Dir(name)
	var tmp *os.File
	for i := 0; ; i++ {
		var r [6]byte
		rand.Read(r[:])
		p := filepath.Join(dir, "git-interpret-trailers-"+hex.EncodeToString(r[:])[:6])
		tmp, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return fmt.Errorf("unable to create temporary file '%s': %s", p, strerror(err))
		}
	}
	out := t.process(in)
	_, werr := tmp.Write(out)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("could not write temporary file: %s", strerror(werr))
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("could not rename temporary file to %s: %s", name, strerror(err))
	}
	return nil
}

// gitLocalEnv are the variables "git rev-parse --local-env-vars" lists; git
// removes them from the environment of trailer commands.
var gitLocalEnv = []string{
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
	"GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
	"GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
	"GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
}

// newTrailerRunner returns the trailer engine's CommandRunner: it runs
// trailer.<token>.cmd and .command as git's run-command does, through
// env.Runner, with stdin from /dev/null, stderr to ours, git's exec path first
// in PATH and without git's repository variables.
func newTrailerRunner(ctx context.Context, env *Env) trailers.CommandRunner {
	var cmdEnv []string
	return func(argv []string) ([]byte, error) {
		if cmdEnv == nil {
			cmdEnv = trailerCommandEnv(ctx, env)
		}
		path := argv[0]
		if !strings.Contains(path, "/") {
			path = lookPathIn(path, cmdEnv)
			if path == "" {
				fmt.Fprintf(env.Stderr, "error: cannot run %s: No such file or directory\n", argv[0])
				return nil, fs.ErrNotExist
			}
		}
		cmd := env.Runner.Command(ctx, argv[0], argv[1:]...)
		cmd.Path, cmd.Err = path, nil
		cmd.Env = cmdEnv
		cmd.Stdin = nil
		cmd.Stderr = env.Stderr
		var out bytes.Buffer
		cmd.Stdout = &out
		err := env.Runner.Run(cmd)
		var ge *gitexec.Error
		if errors.As(err, &ge) && ge.ExitCode < 0 {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				fmt.Fprintf(env.Stderr, "error: cannot run %s: %s\n", argv[0], strerror(ge.Err))
			}
		}
		return out.Bytes(), err
	}
}

// trailerCommandEnv is the environment git gives trailer commands: its own,
// with the exec path first in PATH and without the repository variables.
func trailerCommandEnv(ctx context.Context, e *Env) []string {
	env := os.Environ()
	if os.Getenv("GIT_EXEC_PATH") == "" {
		// Not started by git's dispatch: add what git would have.
		if out, err := e.Runner.Git(ctx, "--exec-path"); err == nil {
			if p := strings.TrimSpace(out); p != "" {
				env = append(env, "GIT_EXEC_PATH="+p, "PATH="+p+string(os.PathListSeparator)+os.Getenv("PATH"))
			}
		}
	}
	drop := map[string]bool{}
	for _, k := range gitLocalEnv {
		drop[k] = true
	}
	last := map[string]int{}
	kept := []string{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if drop[k] {
			continue
		}
		if i, ok := last[k]; ok {
			kept[i] = kv
			continue
		}
		last[k] = len(kept)
		kept = append(kept, kv)
	}
	return kept
}

// lookPathIn finds an executable in the PATH of env.
func lookPathIn(name string, env []string) string {
	pathList := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v
		}
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// strerror renders an error's errno the way C's strerror does, as git
// prints it ("No such file or directory").
func strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}
