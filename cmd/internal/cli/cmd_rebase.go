package cli

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
)

type rebaseOptions struct {
	test        testFlags
	doTest      bool
	review, ack bool
	interactive bool
	noEdit      bool
	jobs        int
}

func init() {
	Register(func() *Command {
		o := &rebaseOptions{}
		return &Command{
			Name:     "rebase",
			Synopsis: []string{"rebase [--test [<test options>] [--jobs <n>]] [--review | --ack] [-i] [--no-edit] <upstream> [-- <cmd>...]"},
			Short:    "rebase with a test (and/or review) exec line after every pick",
			Long: `Starts "git rebase -i <upstream>" with an "exec git rapido test" line (--test)
and/or "exec git rapido review" (--review, --ack) after each pick, placed as
"git rebase --exec" places them. The todo opens in your editor so you can
drop the exec lines you do not want; --no-edit runs straight through.

Each passing commit gets its Tested-by:; the first failing commit stops the
rebase with the reason and the log path. Fix it, "git commit --amend", then
"git rebase --continue": the failed exec line runs again
(--reschedule-failed-exec). Test options and a command after "--" are passed
to every "git rapido test".

With --jobs N, the commits of <upstream>..HEAD are first tested in N job
slots at once, as "git rapido test --jobs N <upstream>..HEAD" does (up to
the first failure); the rebase then starts and its exec lines find the
verdicts in the cache, so they only add the trailers and stop at the first
failure as before. A commit whose code the rebase changes (a new upstream)
is tested by its exec line.`,
			Flags: func(fs *pflag.FlagSet) {
				o.test.Register(fs)
				fs.BoolVar(&o.doTest, "test", false, "test every commit (exec git rapido test)")
				fs.BoolVar(&o.review, "review", false, "add your Reviewed-by: to every commit")
				fs.BoolVar(&o.ack, "ack", false, "add your Acked-by: to every commit")
				fs.BoolVarP(&o.interactive, "interactive", "i", false, "open the todo in the editor (the default unless --no-edit)")
				fs.BoolVar(&o.noEdit, "no-edit", false, "do not open the todo in the editor")
				fs.IntVarP(&o.jobs, "jobs", "j", 0, "with --test: first test the range in `n` job slots at once")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runRebase(ctx, env, o, args)
			},
		}
	})
}

func runRebase(ctx context.Context, env *Env, o *rebaseOptions, args []string) error {
	var command []string
	if env.DashAt >= 0 {
		command, args = args[env.DashAt:], args[:env.DashAt]
	}
	if len(args) != 1 {
		return Usagef("want exactly one <upstream>")
	}
	if !o.doTest && !o.review && !o.ack {
		return Usagef("nothing to do: give --test, --review or --ack")
	}
	if o.review && o.ack {
		return Usagef("--review and --ack are mutually exclusive")
	}
	if len(command) > 0 && !o.doTest {
		return Usagef("a test command after -- needs --test")
	}
	if o.noEdit && o.interactive {
		return Usagef("-i and --no-edit are mutually exclusive")
	}
	if err := o.test.Check(); err != nil {
		return err // refused now, not on every exec line
	}
	if o.jobs < 0 || (o.jobs > 0 && !o.doTest) {
		return Usagef("--jobs: want a positive count, with --test")
	}
	if n, _ := env.Runner.Git(ctx, "rev-list", "--count", args[0]+"..HEAD"); o.jobs > 0 && strings.TrimSpace(n) != "0" {
		// The verdicts go to the cache; the rebase below reads them.
		// Its outcome is the exec lines' to report.
		to := &testOptions{test: o.test, jobs: o.jobs}
		err := runTestRange(ctx, env, to, []string{args[0] + "..HEAD"}, command)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var xe *ExitError
		if err != nil && !errors.As(err, &xe) {
			return err
		}
		if errors.As(err, &xe) && xe.Err != nil {
			return err // the range could not be tested at all
		}
	}
	var execs []string
	if o.doTest {
		line := append([]string{"git", "rapido", "test"}, o.test.Args()...)
		if len(command) > 0 {
			line = append(append(line, "--"), command...)
		}
		exec := gitexec.Quote(line...)
		dir, err := o.test.execDir()
		if err != nil {
			return err
		}
		if dir != "" {
			exec = "cd " + gitexec.Quote(dir) + " && " + exec
		}
		execs = append(execs, exec)
	}
	if o.review {
		execs = append(execs, "git rapido review")
	}
	if o.ack {
		execs = append(execs, "git rapido review --ack")
	}
	gitArgs := []string{}
	if o.noEdit {
		gitArgs = append(gitArgs, "-c", "sequence.editor=:")
	}
	gitArgs = append(gitArgs, "rebase", "-i", "--reschedule-failed-exec")
	for _, e := range execs {
		gitArgs = append(gitArgs, "--exec", e)
	}
	gitArgs = append(gitArgs, args[0])
	cmd := env.Runner.Command(ctx, "git", gitArgs...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, env.Stdout, env.Stderr
	if err := env.Runner.Run(cmd); err != nil {
		// git already explained the stop (a failing exec line, a
		// conflict); pass its status on so scripts see it.
		if code := gitexec.ExitCode(err); code > 0 {
			return &ExitError{Code: code}
		}
		return err
	}
	return nil
}
