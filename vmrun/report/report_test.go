package report

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var spec = []string{"arch: x86_64", "compiler: gcc (Debian 12.2.0-14) 12.2.0", "cut: smoke.cut (1 VM(s))", "test: the cut's autorun scripts, timeout 5m0s"}

func series(fail bool) *Report {
	r := &Report{Title: "[PATCH 0/3] mm: fix the <frobnicator> | widget"}
	for i, s := range []string{"mm: add the frobnicator", "mm: use it *everywhere*", "Reviewed-by: Evil <evil@example.org>\x1b[2J"} {
		c := Commit{ID: strings.Repeat(fmt.Sprint(i+1), 40), Subject: s, Verdict: "pass", Source: "fresh",
			Phases:  Phases{Build: time.Duration(200+i*30) * time.Second, Cut: 1200 * time.Millisecond, Boot: 3100 * time.Millisecond, Test: time.Duration(i+1) * 450 * time.Millisecond},
			Release: "6.1.0-rapido", Accel: "tcg", Spec: spec}
		c.Duration = c.Phases.Total()
		if i == 1 {
			c.Source = "cached"
		}
		if fail && i == 2 {
			c.Verdict, c.Reason = "crash", "kernel panic: Oops: general protection fault"
			c.Excerpt = []string{"BUG: kernel NULL pointer dereference, address: 0000000000000008", "RIP: 0010:frob+0x12/0x40 <script>alert(1)</script>", "```", "Call Trace:"}
		}
		r.Commits = append(r.Commits, c)
	}
	if fail {
		r.Commits = append(r.Commits, Commit{ID: strings.Repeat("4", 40), Subject: "mm: docs", Verdict: "untested"})
	}
	return r
}

var header = Header{FromName: "Tëss Tester", FromEmail: "tess@example.org", Date: time.Unix(1700000000, 0).UTC(),
	Subject: "[PATCH 0/3] mm: fix the frobnicator", MessageID: "rapido-report.1700000000.111111111111@example.org", InReplyTo: "cover.1.git.pat@example.org", References: []string{"cover.1.git.pat@example.org"}}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
	}
}

func TestGolden(t *testing.T) {
	for _, fail := range []bool{false, true} {
		suffix := "pass"
		if fail {
			suffix = "fail"
		}
		r := series(fail)
		var md, h, m bytes.Buffer
		if err := Markdown(&md, r); err != nil {
			t.Fatal(err)
		}
		if err := HTML(&h, r); err != nil {
			t.Fatal(err)
		}
		err := Mail(&m, r, header, "Tëss Tester <tess@example.org>")
		if fail != errors.Is(err, ErrNotAllPassed) || (!fail && err != nil) {
			t.Fatalf("Mail: %v", err)
		}
		golden(t, "report-"+suffix+".md", md.Bytes())
		golden(t, "report-"+suffix+".html", h.Bytes())
		golden(t, "report-"+suffix+".eml", m.Bytes())
		for name, out := range map[string]string{"markdown": md.String(), "html": h.String(), "mail": m.String()} {
			if strings.Contains(out, "\x1b") {
				t.Errorf("%s: a terminal escape went through", name)
			}
		}
		if strings.Contains(h.String(), "<script") || strings.Contains(h.String(), "http") {
			t.Errorf("html: a script or a link in a page that must be self-contained")
		}
		n := strings.Count(m.String(), "\nTested-by: ")
		if (fail && n != 0) || (!fail && (n != 1 || !strings.HasSuffix(m.String(), "\nTested-by: Tëss Tester <tess@example.org>\n"))) {
			t.Errorf("mail: %d Tested-by lines, or not at the end:\n%s", n, m.String())
		}
	}
}

func TestMailRefusesBadIDs(t *testing.T) {
	for _, id := range []string{"", "a>b", "a b", "x\nBcc: y"} {
		h := header
		h.InReplyTo = id
		if err := Mail(&bytes.Buffer{}, series(false), h, "T <t@x>"); err == nil || errors.Is(err, ErrNotAllPassed) {
			t.Errorf("In-Reply-To %q: %v", id, err)
		}
	}
}

// BenchmarkRender50 renders a 50-commit series in the three formats.
func BenchmarkRender50(b *testing.B) {
	r := &Report{Title: "[PATCH 00/50] a long series"}
	base := series(true).Commits
	for i := 0; i < 50; i++ {
		c := base[i%len(base)]
		c.ID = fmt.Sprintf("%040d", i)
		r.Commits = append(r.Commits, c)
	}
	for b.Loop() {
		Markdown(io_discard{}, r)
		HTML(io_discard{}, r)
		Mail(io_discard{}, r, header, "T <t@x>")
	}
}

type io_discard struct{}

func (io_discard) Write(p []byte) (int, error) { return len(p), nil }
