// Package cli is git rapido's command layer: it owns flag parsing (one
// pflag.FlagSet per subcommand), help text, error printing and exit codes.
// Every subcommand lives in its own cmd_<name>.go file and registers itself
// from init with Register. Nothing below this package prints errors or exits.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
)

// Command describes one subcommand: its help text and how to run it.
type Command struct {
	Name     string   // as typed after "git rapido"
	Synopsis []string // usage lines, each without the leading "git rapido "
	Short    string   // one line for the command list, lower-case, no period
	Long     string   // DESCRIPTION: paragraphs separated by blank lines
	// Sections are extra man-page sections (EXIT STATUS, CONFIGURATION, ...)
	// printed after OPTIONS, in order.
	Sections []Section
	// Flags binds the command's flags to its options struct.
	Flags func(fs *pflag.FlagSet)
	// Run does the work. args are the operands left after flag parsing;
	// env.DashAt says where a "--" stood, for commands that take a command
	// line after it.
	Run func(ctx context.Context, env *Env, args []string) error
	// RawArgs hands the whole argument list to Run unparsed, for commands
	// that must parse exactly like a git builtin (git rapido trailers).
	RawArgs bool
	// UsageExit is the exit status of a usage error: 129 as in git unless a
	// command documents another (the test commands use 128, "cannot test").
	UsageExit int
	// Hidden commands are plumbing (guest init, hooks) left out of the list.
	Hidden bool
}

// Section is a titled block of help text.
type Section struct {
	Title string
	Body  string
}

// Env is what a command may touch of the outside world. Tests fill it in.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Runner starts git and every other external program.
	Runner *gitexec.Runner
	// DashAt is the number of operands before a "--", or -1 when there was none.
	DashAt int

	// paging is true while Stdout goes to a pager this process started.
	paging bool

	cfgOnce sync.Once
	cfg     *gitexec.Config
	cfgErr  error
}

// Config reads the git configuration once per invocation.
func (e *Env) Config(ctx context.Context) (*gitexec.Config, error) {
	e.cfgOnce.Do(func() { e.cfg, e.cfgErr = e.Runner.ReadConfig(ctx) })
	return e.cfg, e.cfgErr
}

// IsTerminal reports whether w is a terminal, for live progress lines.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

var (
	registry   = map[string]func() *Command{}
	guestEntry func(argv0 string, stderr io.Writer) (int, bool)
)

// Register adds a subcommand. newCmd builds a fresh *Command with its own
// options struct each time, so nothing leaks between invocations in tests.
func Register(newCmd func() *Command) {
	c := newCmd()
	if _, dup := registry[c.Name]; dup {
		panic("cli: command registered twice: " + c.Name)
	}
	registry[c.Name] = newCmd
}

// RegisterGuest sets the function that decides first whether this binary is
// the VM's /init (or named init where it must refuse to run); it returns
// false for the ordinary command.
func RegisterGuest(entry func(argv0 string, stderr io.Writer) (int, bool)) { guestEntry = entry }

func commands() []*Command {
	var cs []*Command
	for _, n := range names() {
		cs = append(cs, registry[n]())
	}
	return cs
}

func names() []string {
	var ns []string
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Main runs git rapido with the full argv and returns the exit status. The
// same binary is the guest's PID 1 inside the VM: it dispatches on that first.
func Main(argv []string) int {
	if guestEntry != nil {
		if code, done := guestEntry(argv[0], os.Stderr); done {
			return code
		}
	}
	ctx, stop := signalContext()
	defer stop()
	env := &Env{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		Runner: &gitexec.Runner{},
		DashAt: -1,
	}
	return Run(ctx, env, argv[1:])
}

// Run dispatches args (without the program name) and returns the exit status.
func Run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		printOverview(env.Stdout, false)
		return 1
	}
	switch args[0] {
	case "-h", "--help":
		printOverview(env.Stdout, true)
		return 0
	case "--version", "version":
		fmt.Fprintf(env.Stdout, "git-rapido version %s\n", Version())
		return 0
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(env.Stderr, "error: unknown option: %s\n", args[0])
		printOverview(env.Stderr, false)
		return 129
	}
	newCmd, ok := registry[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "git-rapido: '%s' is not a git rapido command. See 'git rapido --help'.\n", args[0])
		if s := suggest(args[0]); s != "" {
			fmt.Fprintf(env.Stderr, "\nThe most similar command is\n\t%s\n", s)
		}
		return 1
	}
	cmd := newCmd()
	return runCommand(ctx, env, cmd, args[1:])
}

func runCommand(ctx context.Context, env *Env, cmd *Command, args []string) int {
	usageExit := cmd.UsageExit
	if usageExit == 0 {
		usageExit = 129
	}
	operands := args
	if !cmd.RawArgs {
		fs := pflag.NewFlagSet("git rapido "+cmd.Name, pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.SortFlags = false
		if cmd.Flags != nil {
			cmd.Flags(fs)
		}
		// --help is the whole page; -h the short usage with exit 129, as
		// git's parse-options does.
		help := fs.Bool("help", false, "show the manual page")
		usage := fs.BoolP("short-usage", "h", false, "show the usage")
		fs.Lookup("short-usage").Hidden = true
		expanded, err := expandOptions(fs, args)
		if err == nil {
			err = fs.Parse(expanded)
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "error: %s\n", strings.TrimPrefix(err.Error(), "flag: "))
			printUsage(env.Stderr, cmd)
			return usageExit
		}
		if *help {
			printHelp(env.Stdout, cmd)
			return 0
		}
		if *usage {
			printUsage(env.Stdout, cmd)
			return 129
		}
		operands = fs.Args()
		env.DashAt = fs.ArgsLenAtDash()
	}
	// Nearly every command reads git config and also asks git where the
	// repository is; starting the config read now overlaps the two process
	// start-ups (env.Config reads it once, later callers wait for it).
	if !cmd.Hidden && cmd.Name != "help" && env.Runner != nil {
		go env.Config(ctx)
	}
	err := cmd.Run(ctx, env, operands)
	if sig, ok := interruption(ctx); ok && err != nil {
		// A git command killed by the cancellation, say: the signal is
		// what happened.
		err = sig
	}
	return exitStatus(env, cmd, err, usageExit)
}

// suggest returns the registered command closest to a mistyped one. A
// swap of two neighbouring letters ("tset") counts as one edit, as it is
// the commonest typo.
func suggest(typed string) string {
	best, bestD := "", 3
	for _, n := range names() {
		if d := editDistance(typed, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and adjacent transpositions each cost one.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
