package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/vmrun"
)

type runOptions struct {
	test    testFlags
	dryRun  bool
	timings bool
}

// exitStatusSection documents the exit codes shared by run, test and the
// bisect step: they follow git bisect run's contract.
const exitStatusSection = `0    the test passed
1    the test failed (the command or script exited non-zero)
2    the kernel crashed (panic, oops, BUG, KASAN/UBSAN, WARNING) or hung
125  the kernel did not build (git bisect run skips the commit)
128  the commit cannot be tested: usage error, QEMU or make missing, bad
     configuration, the test program not found (127) or not executable
     (126) in the guest (git bisect run stops)
130  interrupted`

func init() {
	Register(func() *Command {
		o := &runOptions{}
		return &Command{
			Name:      "run",
			Synopsis:  []string{"run [<test options>] [--dry-run] [--timings] [--script <file> | -- <cmd> [<arg>...]]"},
			Short:     "build the kernel, boot a test image in QEMU and report the verdict",
			UsageExit: 128,
			Long: `Builds the kernel of the current worktree out of tree (incrementally, in
$(git rev-parse --git-path rapido/build) unless rapido.buildDir says
otherwise), cuts a minimal initramfs with git rapido's own /init, boots it in
QEMU and classifies the outcome: passed, failed, crashed, hung, did not build,
or could not be tested.

The test is the cut's autorun scripts, a --script FILE, or the command after
"--", run by /init inside the VM with busybox available. With neither, the
"boot" cut checks that the kernel comes up. The console is scanned for panics,
oopses, BUG, KASAN and UBSAN reports and WARNINGs; any of them makes the run a
crash even when the test itself passed.

Logs (build.log, console.log, the guest's verdict events) are kept per run
under $(git rev-parse --git-path rapido/logs)/ and their directory is printed.`,
			Sections: []Section{{"EXIT STATUS", exitStatusSection}, {"CONFIGURATION", configSection}},
			Flags: func(fs *pflag.FlagSet) {
				o.test.Register(fs)
				fs.BoolVarP(&o.dryRun, "dry-run", "n", false, "print the resolved plan (stderr) and the QEMU command line (stdout), and exit")
				fs.BoolVar(&o.timings, "timings", false, "print how long each phase took (build, cut, firmware, kernel boot, init, test, shutdown), the boot path and the accelerator")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runRun(ctx, env, o, args)
			},
		}
	})
}

// configSection is the CONFIGURATION of every command that runs a test.
var configSection = keyLines("rapido.buildDir", "rapido.jobs", "rapido.kernelConfig", "rapido.kconfig",
	"rapido.arch", "rapido.crossCompile", "rapido.llvm", "rapido.cc", "rapido.makeWrapper", "rapido.compilerLauncher",
	"rapido.cut", "rapido.cutPath", "rapido.qemu", "rapido.memory", "rapido.cpus", "rapido.accel",
	"rapido.kernelArgs", "rapido.qemuExtraArgs", "rapido.timeout", "rapido.bootTimeout", "rapido.net.mode") +
	"\nRAPIDO_MAKE overrides the make binary."

func runRun(ctx context.Context, env *Env, o *runOptions, args []string) error {
	spec, err := o.test.Spec(ctx, env, args)
	if err != nil {
		return asCannotTest(err)
	}
	// One plan for the dry run and the run: a spec the run would refuse
	// is refused by the dry run too, with the same message.
	plan, err := vmrun.NewPlan(spec, env.Runner)
	if err != nil {
		return asCannotTest(err)
	}
	if o.dryRun {
		argv, err := plan.DryRun()
		if err != nil {
			return asCannotTest(err)
		}
		lines, err := plan.Describe()
		if err != nil {
			return asCannotTest(err)
		}
		for _, l := range lines {
			fmt.Fprintf(env.Stderr, "plan: %s\n", l)
		}
		fmt.Fprintln(env.Stdout, gitexec.Quote(argv...))
		return nil
	}
	v, err := vmrun.RunPlan(ctx, plan, o.test.host(env))
	if err != nil {
		return err
	}
	printVerdict(env, v, false, o.timings)
	return verdictExit(v)
}

// asCannotTest keeps usage errors as they are (they exit 128 for these
// commands through UsageExit) and turns other setup errors into exit 128.
func asCannotTest(err error) error {
	if _, ok := err.(*UsageError); ok {
		return err
	}
	return &ExitError{Code: 128, Err: err}
}

// verdictExit maps a verdict to the documented exit code, silently: the
// verdict has been printed already.
func verdictExit(v *vmrun.Verdict) error {
	if code := v.Status.ExitCode(); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// printVerdict prints the one-line summary, and for failures the reason,
// the lines that explain it and where the logs are.
func printVerdict(env *Env, v *vmrun.Verdict, cached, timings bool) {
	w := env.Stderr
	tag := ""
	if cached {
		tag = " (cached)"
	}
	rel := ""
	if v.KernelRelease != "" {
		rel = " " + v.KernelRelease
	}
	// A cached verdict may come from anyone (cache fetch): escape what it says.
	note := ""
	if v.BuildNote != "" {
		note = "; " + termsafe.Escape(v.BuildNote)
	}
	fmt.Fprintf(w, "rapido: %s%s%s — %s [%s%s]\n", termsafe.Escape(string(v.Status)), tag, termsafe.Escape(rel), termsafe.Escape(v.Reason), v.Timings, note)
	if v.Status != vmrun.Pass {
		for i, l := range v.Excerpt {
			if i == 20 {
				fmt.Fprintf(w, "    ... (%d more lines)\n", len(v.Excerpt)-20)
				break
			}
			fmt.Fprintf(w, "    %s\n", termsafe.Escape(l))
		}
	}
	if v.LogDir != "" {
		fmt.Fprintf(w, "rapido: logs in %s\n", termsafe.Escape(v.LogDir))
	}
	if timings {
		t := v.Timings
		accel := ""
		if v.Accel != "" {
			accel = " (" + v.Accel + ")"
		}
		boot := ""
		if v.Boot != "" {
			boot = " (" + v.Boot + " boot)"
		}
		build := ""
		if v.BuildNote != "" {
			build = " (" + termsafe.Escape(v.BuildNote) + ")"
		}
		fmt.Fprintf(w, "timings: build %s%s, cut %s, firmware %s%s, kernel boot %s%s, init %s, test %s, shutdown %s, total %s\n",
			ms(t.Build), build, ms(t.Cut), ms(t.Firmware), boot, ms(t.KernelBoot), accel, ms(t.Init), ms(t.Test), ms(t.Shutdown), ms(v.Duration))
	}
}

// ms rounds d to the millisecond: finer digits are noise for a boot.
func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
