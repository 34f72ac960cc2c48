package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/trailers/mbox"
	"github.com/git-rapido/git-rapido/vmrun"
	"github.com/git-rapido/git-rapido/vmrun/report"
)

type reportOptions struct {
	format    string
	inReplyTo string
	subject   string
	thread    string
	output    string
}

func init() {
	Register(func() *Command {
		o := &reportOptions{}
		return &Command{
			Name: "report",
			Synopsis: []string{"report [--format=markdown|html] [-o <file>] [<revision range>]",
				"report --format=mail (--thread <mbox> | --in-reply-to <message-id> [--subject <cover subject>]) [<revision range>]"},
			Short: "write a test report of a series: Markdown, one HTML page, or a reply to its cover letter",
			Long: `Reports what the verdict cache says of each commit of the range, oldest
first: subject, verdict, fresh (tested as this very commit) or cached (its
tree tested as another commit), the build, cut, boot and test times, and for
a failure its reason and the last lines of its excerpt; then the test spec
in words, the kernel release and the accelerator. Only trusted verdicts
count, as for "git rapido log", and the range defaults to the same
(@{upstream}..HEAD, or the last 20 commits). Nothing is built or booted:
test first ("git rapido rebase --test <upstream>").

--format=markdown (the default) is for a pull request or a CI summary.
--format=html is one self-contained page — inline CSS and SVG, no script,
nothing fetched — with a stacked bar of build, cut, boot and test time per
commit.

--format=mail writes a reply to the series' cover letter, ready for
"git send-email" or "sendmail -t": From: and Tested-by: are you
(user.name, user.email; rapido.testedBy for the trailer), Subject:
"Re: <cover subject>", In-Reply-To: and References: the cover letter's.
Take them from the thread saved with "b4 mbox" (--thread), or give
--in-reply-to and --subject. When every commit passed, the body ends in one
"Tested-by:" line, which "b4 am -t" (and "git rapido trailers collect")
applies to every patch; otherwise it reports the failures, has no
Tested-by:, and the exit status is 1. No other line of the body can be read
as a trailer.`,
			Sections: []Section{
				{"CONFIGURATION", keyLines("rapido.testedBy")},
				{"EXIT STATUS", `0 when the report was written (for a mail: every commit passed), 1 for a mail
without Tested-by: (a commit failed or was not tested), 128 when git or the
thread cannot be read, 129 for a usage error.`},
			},
			Flags: func(fs *pflag.FlagSet) {
				fs.StringVar(&o.format, "format", "markdown", "`format` of the report: markdown, html or mail")
				fs.StringVarP(&o.output, "output", "o", "", "write the report to `file` instead of the standard output")
				fs.StringVar(&o.thread, "thread", "", "take the cover letter (subject, Message-Id) from the thread in `mbox`")
				fs.StringVar(&o.inReplyTo, "in-reply-to", "", "the cover letter's `message-id` (mail)")
				fs.StringVar(&o.subject, "subject", "", "the cover letter's `subject` (mail), or the report's title")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runReport(ctx, env, o, args)
			},
		}
	})
}

func runReport(ctx context.Context, env *Env, o *reportOptions, args []string) error {
	switch o.format {
	case "markdown", "md", "html", "mail":
	default:
		return Usagef("--format: want markdown, html or mail, not %q", o.format)
	}
	hdr := report.Header{Subject: o.subject, InReplyTo: strings.Trim(strings.TrimSpace(o.inReplyTo), "<>")}
	if o.thread != "" {
		if o.inReplyTo != "" {
			return Usagef("--thread and --in-reply-to are mutually exclusive")
		}
		if err := coverFromThread(o.thread, &hdr); err != nil {
			return &ExitError{Code: 128, Err: err}
		}
	}
	if o.format == "mail" && hdr.InReplyTo == "" {
		return Usagef("--format=mail needs --thread <mbox> or --in-reply-to <message-id>")
	}
	if o.format == "mail" && hdr.Subject == "" {
		return Usagef("--format=mail needs the cover letter's subject: --subject, or --thread")
	}
	entries, err := readLog(ctx, env, args, 0, true)
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	if len(entries) == 0 {
		return &ExitError{Code: 128, Err: errors.New("report: no commit in the range")}
	}
	r := &report.Report{Title: hdr.Subject}
	if r.Title == "" {
		r.Title = strings.Join(args, " ")
		if r.Title == "" {
			r.Title = fmt.Sprintf("%d commit(s) up to %.12s", len(entries), entries[len(entries)-1].Commit)
		}
	}
	for _, e := range entries {
		r.Commits = append(r.Commits, reportCommit(e))
	}
	var out bytes.Buffer
	var rerr error
	switch o.format {
	case "markdown", "md":
		rerr = report.Markdown(&out, r)
	case "html":
		rerr = report.HTML(&out, r)
	case "mail":
		if err := mailIdentity(ctx, env, &hdr); err != nil {
			return err
		}
		testedBy, err := identity(ctx, env, "rapido.testedBy")
		if err != nil {
			return err
		}
		// A Message-Id of its own, so the reply can be saved into the
		// thread: the date and the tip tested make it unique.
		_, domain, _ := strings.Cut(hdr.FromEmail, "@")
		if domain == "" || strings.ContainsAny(domain, "<> \t\r\n") {
			domain = "localhost"
		}
		hdr.MessageID = fmt.Sprintf("rapido-report.%d.%.12s@%s", hdr.Date.Unix(), entries[len(entries)-1].Commit, domain)
		rerr = report.Mail(&out, r, hdr, testedBy)
	}
	if rerr != nil && !errors.Is(rerr, report.ErrNotAllPassed) {
		return &ExitError{Code: 128, Err: rerr}
	}
	if err := writeReport(ctx, env, o.output, out.Bytes()); err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	if errors.Is(rerr, report.ErrNotAllPassed) {
		return &ExitError{Code: 1, Err: fmt.Errorf("report: %s: the reply has no Tested-by:", r.Summary())}
	}
	return nil
}

// reportCommit is a log entry as the report shows it.
func reportCommit(e logEntry) report.Commit {
	c := report.Commit{ID: e.Commit, Subject: e.Subject, Verdict: e.Verdict, Source: e.Source, Reason: e.Reason, Duration: e.Duration}
	if j := e.judged; j != nil {
		var t vmrun.Timings
		if len(j.Timings) > 0 {
			json.Unmarshal(j.Timings, &t) // unreadable timings only lose the breakdown
		}
		c.Phases = report.Phases{Build: t.Build, Cut: t.Cut, Boot: t.KernelBoot + t.Init, Test: t.Test}
		c.Excerpt, c.Release, c.Accel, c.Spec = j.Excerpt, j.Release, j.Accel, j.Described
	}
	return c
}

// coverFromThread fills the reply's header from the thread's cover letter
// (or its first patch when it has none).
func coverFromThread(path string, h *report.Header) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	msgs, err := mbox.Read(io.LimitReader(f, maxMbox))
	if err != nil {
		return fmt.Errorf("report: %s: %s", termsafe.Escape(path), termsafe.Escape(err.Error()))
	}
	s, err := mbox.Thread(msgs)
	if err != nil {
		return fmt.Errorf("report: %s: %s", termsafe.Escape(path), termsafe.Escape(err.Error()))
	}
	m := s.Cover
	if m == nil {
		m = s.Patches[0].Msg
	}
	if h.Subject == "" {
		h.Subject = m.Subject
	}
	h.InReplyTo, h.References = m.MessageID, m.References
	return nil
}

// mailIdentity is From: (user.name, user.email) and Date: (now, or
// GIT_COMMITTER_DATE, as git var reads it).
func mailIdentity(ctx context.Context, env *Env, h *report.Header) error {
	cfg, err := env.Config(ctx)
	if err != nil {
		return err
	}
	h.FromName, _ = cfg.Get("user.name")
	h.FromEmail, _ = cfg.Get("user.email")
	if h.FromName == "" || h.FromEmail == "" {
		return &HintError{Err: errors.New("who is writing? user.name and user.email are not set"),
			Hint: "git config user.name 'Your Name'; git config user.email you@example.org"}
	}
	h.Date = time.Now()
	if ident, err := env.Runner.Git(ctx, "var", "GIT_COMMITTER_IDENT"); err == nil {
		f := strings.Fields(ident)
		if len(f) >= 2 {
			if sec, err := strconv.ParseInt(f[len(f)-2], 10, 64); err == nil {
				if loc, err := time.Parse("-0700", f[len(f)-1]); err == nil {
					h.Date = time.Unix(sec, 0).In(loc.Location())
				}
			}
		}
	}
	return nil
}

func writeReport(ctx context.Context, env *Env, path string, b []byte) error {
	if path == "" || path == "-" {
		// On a terminal the report pages as log and verify do.
		done := startPager(ctx, env)
		defer done()
		_, err := env.Stdout.Write(b)
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
