package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/rebase"
	"github.com/git-rapido/git-rapido/trailers/mbox"
)

// collectCommand is "git rapido trailers collect": reached through
// "trailers" (whose other operands are files, as for git
// interpret-trailers), so it is not in the registry of its own.
func collectCommand() *Command {
	var dryRun bool
	return &Command{
		Name:     "trailers collect",
		Synopsis: []string{"trailers collect [--dry-run] (<mbox> | -) [<range>]"},
		Short:    "add the trailers given in replies on a mailing list to the commits",
		Long: `Reads a mail thread — an mbox as "b4 mbox" writes it, or the standard input
with "-" — finds the trailers (Reviewed-by:, Acked-by:, Tested-by:, ...) that
the replies give, and adds them to the commits of <range> (default: as many
commits below HEAD as the thread has patches). A reply to a patch gives its
trailers to that patch, a reply to the cover letter to every patch.

Patches are matched to commits by "git patch-id --stable", then by subject.
Trailers are collected by the rules "b4 am -t" follows: quoted text and
signatures are skipped, a trailer naming a person counts only when that
person sent it, each trailer is added once, in the order of the thread
(see docs/trailers.md). The commit messages come out byte for byte as
"b4 am -t -m <mbox>" followed by "git am" writes them.

The range must be linear and end at HEAD. Its commits are rewritten
(authors kept, committers refreshed, re-signed when commit.gpgSign is set)
and HEAD moves with a compare-and-swap and a reflog entry; the worktree is
not touched. When no trailer is new nothing is rewritten, so running it
twice changes nothing. On any error nothing changes.`,
		Sections: []Section{{"EXIT STATUS", `0 when the trailers were added or none was new, 1 when the thread cannot be
used (not an mbox, no patch, no patch matching a commit of the range), 128
when git fails or HEAD moved, 129 for a usage error.`}},
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&dryRun, "dry-run", "n", false, "show the trailers that would be added, change nothing")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			return runCollect(ctx, env, args, dryRun)
		},
	}
}

// maxMbox bounds what is read from the thread file or the standard input.
const maxMbox = 256 << 20

func runCollect(ctx context.Context, env *Env, args []string, dryRun bool) error {
	if len(args) < 1 || len(args) > 2 {
		return Usagef("want <mbox> (or -) and an optional <range>")
	}
	var in io.Reader = env.Stdin
	name := "standard input"
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: %w", err)}
		}
		defer f.Close()
		in, name = f, args[0]
	}
	raw, err := io.ReadAll(io.LimitReader(in, maxMbox+1))
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: read %s: %w", name, err)}
	}
	if len(raw) > maxMbox {
		return &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: %s: larger than %d MiB", name, maxMbox>>20)}
	}
	msgs, err := mbox.Read(bytes.NewReader(raw))
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: %s: %s", termsafe.Escape(name), termsafe.Escape(err.Error())),
			Hint: `save the thread with "b4 mbox <message-id>" (an mbox, one message after each "From " line)`}
	}
	series, err := mbox.Thread(msgs)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: %s: %s", termsafe.Escape(name), termsafe.Escape(err.Error()))}
	}
	for _, m := range msgs {
		if m.HTMLOnly {
			fmt.Fprintf(env.Stderr, "warning: %q from %s is HTML only: its trailers are not read\n",
				termsafe.Line(m.Subject), termsafe.Line(m.FromEmail))
		}
	}
	for _, t := range series.Unsafe {
		fmt.Fprintf(env.Stderr, "warning: refused %s from %s: it holds control characters\n",
			termsafe.Line(t.String()), termsafe.Line(t.From.FromEmail))
	}
	for _, t := range series.Mismatched {
		fmt.Fprintf(env.Stderr, "warning: ignored %s (sent by %s, not the person it names)\n",
			termsafe.Line(t.String()), termsafe.Line(t.From.FromEmail))
	}
	rng := ""
	if len(args) == 2 {
		rng = args[1]
	} else {
		rng = fmt.Sprintf("HEAD~%d..HEAD", len(series.Patches))
	}
	commits, err := linearRange(ctx, env, rng)
	if err != nil {
		return err
	}
	match, err := matchPatches(ctx, env, series.Patches, commits)
	if err != nil {
		return err
	}
	if len(match) == 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: no commit of %s matches a patch of %s", termsafe.Escape(rng), termsafe.Escape(name)),
			Hint: "give the range the series was applied as, e.g. HEAD~3..HEAD"}
	}
	msgsByCommit := map[string][]byte{}
	total := 0
	for _, p := range series.Patches {
		c, ok := match[p]
		if !ok {
			fmt.Fprintf(env.Stderr, "warning: patch %d/%d %q: no commit of %s matches it\n",
				p.Number, len(series.Patches), termsafe.Line(p.Subject), termsafe.Line(rng))
			continue
		}
		old, err := commitMessage(ctx, env, c.id)
		if err != nil {
			return err
		}
		upd, added := mbox.AddTrailers(old, p.Trailers)
		if len(added) > 0 {
			fmt.Fprintf(env.Stdout, "%.12s %s\n", c.id, termsafe.Line(c.subject))
			for _, t := range added {
				fmt.Fprintf(env.Stdout, "    + %s\n", termsafe.Line(t.String()))
			}
			msgsByCommit[c.id] = []byte(upd)
			total += len(added)
		}
	}
	if total == 0 {
		fmt.Fprintln(env.Stderr, "rapido: no new trailer; nothing changed")
		return nil
	}
	if dryRun {
		fmt.Fprintf(env.Stderr, "rapido: %d trailers would be added (--dry-run: nothing changed)\n", total)
		return nil
	}
	ids := make([]string, len(commits))
	for i, c := range commits {
		ids[i] = c.id
	}
	mapped, err := rebase.RewriteMessages(ctx, env.Runner, rebase.RewriteOptions{
		Dir: env.Runner.Dir, Commits: ids, Messages: msgsByCommit,
		Reflog: fmt.Sprintf("rapido trailers collect: %d trailers from %s", total, termsafe.Escape(series.CoverSubjectOr())),
	})
	if err != nil {
		return &ExitError{Code: 128, Err: fmt.Errorf("trailers collect: %w", err)}
	}
	fmt.Fprintf(env.Stderr, "rapido: %d trailers added; HEAD %.12s -> %.12s\n", total, ids[len(ids)-1], mapped[ids[len(ids)-1]])
	return nil
}

type collectCommit struct{ id, subject string }

// linearRange lists rng oldest first and checks that it is a chain of
// single-parent commits ending at HEAD.
func linearRange(ctx context.Context, env *Env, rng string) ([]collectCommit, error) {
	if strings.HasPrefix(rng, "-") {
		return nil, Usagef("bad range %q", rng)
	}
	head, err := env.Runner.Git(ctx, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return nil, &ExitError{Code: 128, Err: fmt.Errorf("trailers collect: read HEAD: %w", err)}
	}
	out, err := env.Runner.Git(ctx, "rev-list", "--reverse", "--topo-order", "--format=%H %P%x00%s", "--no-commit-header", rng, "--")
	if err != nil {
		return nil, &ExitError{Code: 128, Err: fmt.Errorf("trailers collect: bad range %s: %w", termsafe.Escape(rng), err)}
	}
	var cs []collectCommit
	prev := ""
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		ids, subj, _ := strings.Cut(l, "\x00")
		f := strings.Fields(ids)
		root := len(f) == 1 && prev == "" // the range starts at a root commit
		if !root && (len(f) != 2 || (prev != "" && f[1] != prev)) {
			return nil, &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: %s is not a linear range (merges or side branches)", termsafe.Escape(rng))}
		}
		cs = append(cs, collectCommit{id: f[0], subject: subj})
		prev = f[0]
	}
	if len(cs) == 0 {
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: %s has no commit", termsafe.Escape(rng))}
	}
	if prev != head {
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("trailers collect: %s does not end at HEAD", termsafe.Escape(rng)),
			Hint: "check out the branch the series is on, and give <base>..HEAD"}
	}
	return cs, nil
}

// matchPatches pairs patches with commits: by patch-id first, then by
// subject, each commit at most once.
func matchPatches(ctx context.Context, env *Env, ps []*mbox.Patch, cs []collectCommit) (map[*mbox.Patch]collectCommit, error) {
	format, err := env.Runner.Git(ctx, "rev-parse", "--show-object-format")
	if err != nil {
		return nil, &ExitError{Code: 128, Err: fmt.Errorf("trailers collect: %w", err)}
	}
	hexLen := 40
	if format == "sha256" {
		hexLen = 64
	}
	// The commits' patch-ids: one git log for the whole range, with
	// git's diff configuration (renames) as format-patch uses it.
	logArgs := []string{"log", "-p", "--no-color", "--no-ext-diff", "--full-index", "--format=commit %H", "--no-walk=unsorted"}
	for _, c := range cs {
		logArgs = append(logArgs, c.id)
	}
	diffs, err := env.Runner.Output(ctx, "git", logArgs...)
	if err != nil {
		return nil, &ExitError{Code: 128, Err: fmt.Errorf("trailers collect: diff the range: %w", err)}
	}
	commitIDs, err := collectPatchIDs(ctx, env, diffs) // patch-id -> commit
	if err != nil {
		return nil, err
	}
	var mail bytes.Buffer
	for i, p := range ps {
		fmt.Fprintf(&mail, "commit %0*x\n%s", hexLen, i+1, p.Diff)
		if !strings.HasSuffix(p.Diff, "\n") {
			mail.WriteByte('\n')
		}
	}
	mailIDs, err := collectPatchIDs(ctx, env, mail.Bytes())
	if err != nil {
		return nil, err
	}
	byFake := map[string]string{}
	for id, fake := range mailIDs {
		byFake[fake] = id
	}
	bySubject := map[string]collectCommit{}
	byID := map[string]collectCommit{}
	for _, c := range cs {
		byID[c.id] = c
		if _, dup := bySubject[c.subject]; !dup {
			bySubject[c.subject] = c
		}
	}
	used := map[string]bool{}
	match := map[*mbox.Patch]collectCommit{}
	for i, p := range ps {
		fake := fmt.Sprintf("%0*x", hexLen, i+1)
		if c, ok := commitIDs[byFake[fake]]; ok && byFake[fake] != "" && !used[c] {
			match[p], used[c] = byID[c], true
		}
	}
	for _, p := range ps {
		if _, ok := match[p]; ok {
			continue
		}
		if c, ok := bySubject[p.Subject]; ok && !used[c.id] {
			match[p], used[c.id] = c, true
		}
	}
	return match, nil
}

// collectPatchIDs runs git patch-id --stable and maps each patch-id to the commit
// id that preceded its diff.
func collectPatchIDs(ctx context.Context, env *Env, in []byte) (map[string]string, error) {
	out, err := env.Runner.GitInput(ctx, in, "patch-id", "--stable")
	if err != nil {
		return nil, &ExitError{Code: 128, Err: fmt.Errorf("trailers collect: git patch-id: %w", err)}
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			if _, dup := m[f[0]]; !dup {
				m[f[0]] = f[1]
			}
		}
	}
	return m, nil
}

// commitMessage is the raw message of a commit, as stored.
func commitMessage(ctx context.Context, env *Env, id string) (string, error) {
	out, err := env.Runner.Output(ctx, "git", "cat-file", "commit", id)
	if err != nil {
		return "", &ExitError{Code: 128, Err: fmt.Errorf("trailers collect: read %.12s: %w", id, err)}
	}
	_, msg, ok := bytes.Cut(out, []byte("\n\n"))
	if !ok {
		return "", errors.New("trailers collect: commit without a message")
	}
	return string(msg), nil
}
