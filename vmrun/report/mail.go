package report

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// plainName is a display name made of RFC 5322 atoms and spaces only.
var plainName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")

// Header is what the reply to the cover letter is sent as.
type Header struct {
	FromName, FromEmail string
	Date                time.Time
	// Subject is the cover letter's subject; the reply's is "Re: " and it.
	Subject    string
	MessageID  string   // the reply's own, without <>; none when empty
	InReplyTo  string   // the cover letter's Message-Id, without <>
	References []string // the cover letter's References, without <>
}

// ErrNotAllPassed means a Tested-by: would claim more than the cache says.
var ErrNotAllPassed = errors.New("not every commit passed")

// Mail writes the report as a reply to the cover letter: RFC 5322 headers,
// a plain-text body whose lines cannot be read as trailers (every table and
// excerpt line is indented), ending in exactly one "Tested-by: <testedBy>"
// line when every commit passed. Otherwise the reply reports the failures
// and has no Tested-by: (ErrNotAllPassed is returned after writing it).
func Mail(w io.Writer, r *Report, h Header, testedBy string) error {
	if h.InReplyTo == "" {
		return errors.New("report: a reply needs the cover letter's Message-Id")
	}
	ids := append([]string{h.InReplyTo}, h.References...)
	if h.MessageID != "" {
		ids = append(ids, h.MessageID)
	}
	for _, id := range ids {
		if strings.ContainsAny(id, "<> \t\r\n") || id == "" {
			return fmt.Errorf("report: bad Message-Id %q", id)
		}
	}
	var b strings.Builder
	from := (&mail.Address{Name: clean(h.FromName), Address: clean(h.FromEmail)}).String()
	if plainName.MatchString(h.FromName) {
		// "T Ester" <t@x> and T Ester <t@x> are the same; git
		// send-email writes the second.
		from = h.FromName + " <" + (&mail.Address{Address: clean(h.FromEmail)}).String()[1:]
	}
	fmt.Fprintf(&b, "From: %s\n", from)
	fmt.Fprintf(&b, "Date: %s\n", h.Date.Format(time.RFC1123Z))
	subject := clean(h.Subject)
	if !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	fmt.Fprintf(&b, "Subject: %s\n", mime.QEncoding.Encode("utf-8", subject))
	if h.MessageID != "" {
		fmt.Fprintf(&b, "Message-Id: <%s>\n", h.MessageID)
	}
	fmt.Fprintf(&b, "In-Reply-To: <%s>\n", h.InReplyTo)
	refs := []string{}
	for _, id := range h.References {
		if id != h.InReplyTo {
			refs = append(refs, "<"+id+">")
		}
	}
	refs = append(refs, "<"+h.InReplyTo+">")
	fmt.Fprintf(&b, "References: %s\n", strings.Join(refs, "\n "))
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")

	all := r.AllPassed()
	fmt.Fprintf(&b, "I tested this series with git rapido (build, boot in QEMU, test);\n%s.\n\n", r.Summary())
	for i, c := range r.Commits {
		fmt.Fprintf(&b, "  %2d/%d %-17s build %-6s cut %-6s boot %-6s test %-6s %s\n", i+1, len(r.Commits), verdictText(c),
			dur(c.Phases.Build), dur(c.Phases.Cut), dur(c.Phases.Boot), dur(c.Phases.Test), clip(clean(c.Subject), 60))
	}
	spec, rel, acc := r.Spec()
	fmt.Fprintf(&b, "\n  kernel release %s, accelerator %s\n", clean(rel), clean(acc))
	for _, l := range spec {
		fmt.Fprintf(&b, "  %s\n", clean(l))
	}
	for i, c := range r.Commits {
		if !c.Tested() || c.Verdict == "pass" {
			continue
		}
		fmt.Fprintf(&b, "\n  %d/%d %s: %s\n", i+1, len(r.Commits), clip(clean(c.Subject), 60), clean(c.Verdict))
		if c.Reason != "" {
			fmt.Fprintf(&b, "    %s\n", clip(clean(c.Reason), maxLine))
		}
		for _, l := range excerpt(c.Excerpt) {
			fmt.Fprintf(&b, "    | %s\n", l)
		}
	}
	if all {
		fmt.Fprintf(&b, "\nTested-by: %s\n", clean(testedBy))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if !all {
		return ErrNotAllPassed
	}
	return nil
}
