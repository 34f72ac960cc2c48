package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/vmrun"
	"github.com/git-rapido/git-rapido/vmrun/cache"
	"github.com/git-rapido/git-rapido/vmrun/remote"
)

type remoteOptions struct {
	jobs int
	json bool
}

func init() {
	Register(func() *Command {
		o := &remoteOptions{}
		return &Command{
			Name: "remote",
			Synopsis: []string{
				"remote [list]",
				"remote test [-j | --jobs <n>] [--json] <name> <revision range> [-- <cmd>...]",
			},
			Short:     "test a range on another machine over ssh",
			UsageExit: 128,
			Long: `A remote is another machine's clone of the kernel, named by
rapido.remote.<name>.url, an ssh URL: ssh://[user@]host[:port]/path or
[user@]host:path. git and ssh are the transport; the remote needs git and
git-rapido on the PATH of a non-interactive ssh session, and a POSIX login
shell.

list     the configured remotes and their URLs (the default)
test     test every commit of the range there and bring the verdicts back:
         the commits are pushed to refs/rapido/remote/<id>/* in the remote
         repository (removed afterwards), "git rapido test --keep-going
         --json" runs there on their object names with the settings that
         decide what is tested (kernel configuration, architecture, cut, VM:
         rapido.kernelConfig, rapido.kconfig, rapido.arch,
         rapido.crossCompile, rapido.llvm, rapido.cut, rapido.memory,
         rapido.cpus, rapido.kernelArgs, rapido.qemuExtraArgs,
         rapido.timeout, rapido.bootTimeout, rapido.net.mode) passed with -c,
         each value checked here first, and the remote's refs/notes/rapido is
         fetched and merged into ours as "git rapido cache fetch" does. One
         line per commit says the verdict and whether it is trusted here: a
         verdict answers a later test only when it is signed by a key in
         rapido.trustedKeys or rapido.keyringRef (the remote machine's
         rapido.signingKey) and its spec is ours (same compiler).

The exit status is that of "git rapido test" for the worst verdict (0 pass,
1 fail, 2 crash or hang, 125 build-fail); 128 when the remote cannot be
reached, refuses the push, or cannot test — then nothing has changed here.`,
			Sections: []Section{
				{"CONFIGURATION", keyLines("rapido.remote.<name>.url")},
			},
			Flags: func(fs *pflag.FlagSet) {
				fs.IntVarP(&o.jobs, "jobs", "j", 0, "job slots on the remote (default: the remote's)")
				fs.BoolVar(&o.json, "json", false, "print the remote's JSON report on stdout")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runRemote(ctx, env, o, args)
			},
		}
	})
}

func runRemote(ctx context.Context, env *Env, o *remoteOptions, args []string) error {
	if len(args) == 0 || args[0] == "list" {
		if len(args) > 1 {
			return Usagef("remote list takes no arguments")
		}
		return remoteList(ctx, env)
	}
	if args[0] != "test" {
		return Usagef("unknown subcommand %q (want list or test)", args[0])
	}
	args = args[1:]
	dash := env.DashAt - 1
	if env.DashAt < 0 {
		dash = len(args)
	}
	if dash < 2 {
		return Usagef("want: git rapido remote test <name> <revision range> [-- <cmd>...]")
	}
	if o.jobs < 0 {
		return Usagef("--jobs: want a positive number")
	}
	return remoteTest(ctx, env, o, args[0], args[1:dash], args[dash:])
}

// remoteList prints "name url" for every rapido.remote.<name>.url.
func remoteList(ctx context.Context, env *Env) error {
	out, err := env.Runner.Git(ctx, "config", "--get-regexp", `^rapido\.remote\..*\.url$`)
	if err != nil {
		var ge *gitexec.Error
		if errors.As(err, &ge) && ge.ExitCode == 1 {
			return nil // none configured
		}
		return err
	}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, " ")
		name := strings.TrimSuffix(strings.TrimPrefix(k, "rapido.remote."), ".url")
		fmt.Fprintf(env.Stdout, "%s\t%s\n", termsafe.Escape(name), termsafe.Escape(v))
	}
	return nil
}

// cannotRemote is exit 128 for a remote run that could not happen.
func cannotRemote(err error, hint string) error {
	return &ExitError{Code: 128, Err: fmt.Errorf("remote: %w", err), Hint: hint}
}

func remoteTest(ctx context.Context, env *Env, o *remoteOptions, name string, revArgs, testCmd []string) error {
	// Everything is checked before the first byte leaves this machine.
	if err := remote.CheckName(name); err != nil {
		return cannotRemote(err, "")
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return cannotRemote(err, "")
	}
	url, ok := cfg.Get(remote.URLKey(name))
	if !ok {
		return cannotRemote(fmt.Errorf("no remote %q", name),
			fmt.Sprintf("set its URL: git config %s ssh://host/path/to/linux", remote.URLKey(name)))
	}
	target, err := remote.ParseURL(url)
	if err != nil {
		return cannotRemote(fmt.Errorf("%s: %w", remote.URLKey(name), err), "")
	}
	settings, err := remote.Settings(cfg, vmrun.CheckValue, vmrun.IsConfigTarget)
	if err != nil {
		return cannotRemote(err, "")
	}
	for _, a := range revArgs {
		if strings.HasPrefix(a, "-") {
			return cannotRemote(fmt.Errorf("bad revision %q", a), "")
		}
	}
	// The remote gets object names, never this repository's ref names.
	// "--" makes every argument a revision: a name that is none is an
	// error, not a path (nor, with --revs-only, silently dropped). A
	// leading "-" was refused above; git 2.39's rev-parse has no
	// --end-of-options.
	parsed, err := env.Runner.Git(ctx, append(append([]string{"rev-parse", "--revs-only"}, revArgs...), "--")...)
	revs := strings.Fields(parsed)
	if err != nil || remote.CheckRevs(revs) != nil {
		return cannotRemote(fmt.Errorf("bad revision range %q", strings.Join(revArgs, " ")), "")
	}
	count, err := env.Runner.Git(ctx, append([]string{"rev-list", "--count"}, revs...)...)
	if err != nil || count == "0" {
		return cannotRemote(fmt.Errorf("empty revision range %q", strings.Join(revArgs, " ")), "")
	}

	// Push every end of the range, so that the remote has the commits and
	// the excluded ones alike, under refs of this run only.
	id := make([]byte, 6)
	rand.Read(id)
	ns := "refs/rapido/remote/" + hex.EncodeToString(id)
	var specs, refs []string
	for i, r := range revs {
		ref := fmt.Sprintf("%s/%d", ns, i)
		specs = append(specs, strings.TrimPrefix(r, "^")+":"+ref)
		refs = append(refs, ref)
	}
	url = target.GitURL()
	fmt.Fprintf(env.Stderr, "remote %s: pushing %s commit(s) to %s\n", name, count, termsafe.Escape(url))
	// Only ssh: a URL rewritten by url.<base>.insteadOf to another
	// transport is refused by git itself.
	gitSSH := []string{"-c", "protocol.allow=never", "-c", "protocol.ssh.allow=always"}
	push := append(append(append([]string(nil), gitSSH...), "push", "--atomic", "--no-verify", "--quiet", "--end-of-options", url), specs...)
	if _, err := env.Runner.Git(ctx, push...); err != nil {
		return cannotRemote(fmt.Errorf("%s: cannot push: %s", name, stderrReason(err)),
			"check that the machine is up and "+remote.URLKey(name)+" names a git repository there")
	}
	defer func() {
		del := append(append([]string(nil), gitSSH...), "push", "--no-verify", "--quiet", "--end-of-options", url)
		for _, r := range refs {
			del = append(del, ":"+r)
		}
		if _, err := env.Runner.Git(context.WithoutCancel(ctx), del...); err != nil {
			fmt.Fprintf(env.Stderr, "warning: remote %s: could not remove %s/*: %s\n", name, ns, stderrReason(err))
		}
	}()

	// Run the test there. Every word is quoted for the remote shell.
	command := gitexec.Quote(remote.Command(target, settings, o.jobs, revs, testCmd)...)
	argv := sshCommand(env, cfg, target.SSHArgs(command))
	fmt.Fprintf(env.Stderr, "remote %s: git rapido test on %s\n", name, termsafe.Escape(target.Dest()))
	cmd := env.Runner.Command(ctx, argv[0], argv[1:]...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pw := &prefixWriter{w: env.Stderr, prefix: "remote " + name + ": "}
	cmd.Stderr = pw
	runErr := env.Runner.Run(cmd)
	pw.flush()
	var rep rangeReport
	jsonErr := json.Unmarshal(stdout.Bytes(), &rep)
	if jsonErr != nil || len(rep.Commits) == 0 {
		why := "no report"
		if runErr != nil {
			why = stderrReason(runErr)
		}
		return cannotRemote(fmt.Errorf("%s: git rapido test did not run there: %s", name, why),
			"the remote needs git and git-rapido on the PATH of a non-interactive ssh session")
	}

	// Bring the verdicts back the way "git rapido cache fetch" does.
	c := &cache.Cache{Git: cliGit{env.Runner}}
	if _, err := c.Fetch(ctx, url); err != nil {
		return cannotRemote(fmt.Errorf("%s: cannot fetch the verdicts: %s", name, stderrReason(err)), "")
	}
	policy, err := trustPolicy(ctx, env)
	if err != nil {
		return cannotRemote(err, "")
	}
	untrusted := 0
	for _, rc := range rep.Commits {
		trust := "not cached"
		if es, err := c.Get(ctx, rc.Tree); err == nil {
			for _, j := range policy.ClassifyAll(rc.Tree, es) {
				if j.Spec == rc.Spec {
					trust = trustLabel(j)
					if j.Trust == cache.Untrusted {
						untrusted++
					}
				}
			}
		}
		fmt.Fprintf(env.Stderr, "remote %s: %-10s %.12s %s [%s]\n", name, termsafe.Escape(rc.Verdict), termsafe.Escape(rc.Commit),
			termsafe.Escape(rc.Subject), trust)
	}
	if untrusted > 0 {
		fmt.Fprintf(env.Stderr, "hint: add the public key of %s's rapido.signingKey to rapido.trustedKeys to trust its verdicts\n", name)
	}
	if o.json {
		env.Stdout.Write(stdout.Bytes())
	}
	if rep.Exit != 0 {
		return &ExitError{Code: rep.Exit}
	}
	return nil
}

// sshCommand is how git would run ssh: GIT_SSH_COMMAND or core.sshCommand
// through the shell (they may hold options), else GIT_SSH, else ssh.
func sshCommand(env *Env, cfg *gitexec.Config, args []string) []string {
	shell := env.Getenv("GIT_SSH_COMMAND")
	if shell == "" {
		shell, _ = cfg.Get("core.sshCommand")
	}
	if shell != "" {
		return append([]string{"sh", "-c", shell + ` "$@"`, shell}, args...)
	}
	if p := env.Getenv("GIT_SSH"); p != "" {
		return append([]string{p}, args...)
	}
	return append([]string{"ssh"}, args...)
}

// stderrReason is the first non-empty line of a failed command's stderr: ssh's
// own reason ("ssh: connect to host ...: Connection refused") or git's
// ("fatal: '/x' does not appear to be a git repository") comes before
// git's general advice. Without stderr it is the error.
func stderrReason(err error) string {
	var ge *gitexec.Error
	if errors.As(err, &ge) {
		for _, l := range strings.Split(ge.Stderr, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				return termsafe.Escape(l)
			}
		}
	}
	return termsafe.Escape(err.Error())
}

// prefixWriter puts prefix before every line written through it, holding
// a partial line until its end (or until flush).
type prefixWriter struct {
	w       io.Writer
	prefix  string
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, termsafe.Escape(line)); err != nil {
			return 0, err
		}
	}
}

func (p *prefixWriter) flush() {
	if len(p.partial) > 0 {
		p.Write([]byte("\n"))
	}
}
