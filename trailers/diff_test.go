package trailers

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"

	"math/rand"
	"strings"
	"testing"
)

var (
	diffCases = flag.Int("diff.cases", 1500, "number of generated cases in TestDifferential")
	diffSeed  = flag.Int64("diff.seed", 20261123, "seed of TestDifferential's generator")
)

// Pieces the generator assembles messages from: shapes of titles, bodies,
// trailer lines, continuations, comments and what may follow a block.
var (
	genTitles = []string{"subj", "area: change", "Fixes: foo", "# comment\nsubj", "subj\nsecond title line", "", "Signed-off-by: A <a@b>", "subj\t "}
	genBodies = []string{"body text", "more body\nover two lines", "Link: in body\nnot a trailer", "  indented body", "---foo bar", "body: with colon"}
	genLines  = []string{
		"Signed-off-by: A <a@b>", "Signed-off-by: B <b@c>", "Acked-by: X", "Acked-by :Peff", "Fixes:abc", "X-y\t:  z  ",
		"Tested-by: T <t@y>", "tested-by: t <T@y>", "Bug #42", "Bug: 1", "(cherry picked from commit abc)", "[jd: fixed]",
		"X.Sig: x", "Tested by: x", "  continuation", "\tcont two", "# comment", "; semi", "Ack= eq", "Reviewed-by: R",
		"Review: R", "Link: https://x", "K: v=1;", " b=AAAA", "Cc: c@d", "x: old", "Empty:", "Helped-by: H", "odd line",
		"Sign: s", "a: b", "-: dash", "Fix #7", " ", "T: a", "T: b", "S: x",
	}
	genTails = []string{
		"", "\n", "\n\n", "---\nfoo: bar\n", "---\tbar\n\nT: z\n", "---foo\n", "\n# ------------------------ >8 ------------------------\nB: 2\n",
		"# ------------------------ >8 ------------------------\nstuff\n", "\nConflicts:\n\tfile.c\n\tx.c\n", "\n# comment\n", "Conflicts:\n\ta.c\n\n\tb.c\n",
		"\n; ------------------------ >8 ------------------------\nZ: 1\n", "# trailing\n\n",
	}
	genTrailers = []string{
		"T: x", "Tested-by: T <t@y>", "tested-by: t <T@y>", "Acked-by=Peff", "a: x", "Bug #7", "bug=9", "Review: R", ":x", "=z",
		"foo bar", "ack", "Signed-off-by: A <a@b>", "Rapido-Sig: a\n b", "K:", "x: 1", "sign", "S: x", "T: a", "T: b", "  Cc : spaced  ",
		"y", "Link=https://l", "fix=abc", "Fixes: abc", "-:q", "Empty:",
	}
	genConfigs = [][]ConfigItem{
		kv("trailer.separators", ":#"), kv("trailer.separators", ":="), kv("trailer.separators", "="), kv("trailer.separators", "#:"),
		kv("trailer.where", "start"), kv("trailer.where", "after"), kv("trailer.where", "before"), kv("trailer.where", "end"), kv("trailer.where", "bogus"),
		kv("trailer.ifexists", "add"), kv("trailer.ifexists", "replace"), kv("trailer.ifexists", "addIfDifferent"), kv("trailer.ifexists", "doNothing"), kv("trailer.ifexists", "AddIfDifferentNeighbor"),
		kv("trailer.ifmissing", "doNothing"), kv("trailer.ifmissing", "add"), kv("trailer.ifmissing", "nope"),
		kv("trailer.ack.key", "Acked-by"), kv("trailer.ack.key", "Acked-by= "), kv("trailer.ack.where", "before"),
		kv("trailer.bug.key", "Bug #"), kv("trailer.sign.key", "Signed-off-by: "), kv("trailer.sign.ifexists", "doNothing"),
		kv("trailer.review.key", "Reviewed-by"), kv("trailer.review.ifmissing", "doNothing"), kv("trailer.fix.key", "Fixes", "trailer.fix.ifexists", "replace"),
		kv("trailer.x.cmd", `echo "[$1]"`), kv("trailer.y.command", "echo ARG=$ARG"), kv("trailer.t.cmd", `printf %s "$1" | tr a-z A-Z`),
		kv("trailer.x.cmd", "false"), kv("trailer.cc.command", "echo cc"), kv("trailer.link.key", "Link", "trailer.link.where", "start"),
		kv("core.commentchar", ";"), kv("core.commentchar", "auto"), kv("trailer.x.key", "X", "trailer.x.key", "XX"),
		kv("trailer.Ack.ifExists", "add"), kv("trailer.s.key", "S", "trailer.s.where", "after"),
	}
	genOpts     = []string{"--trim-empty", "--only-trailers", "--only-input", "--unfold", "--parse", "--no-divider", "--divider", "--no-trailer", "--no-where", "--no-if-exists", "--no-if-missing", "--only-t", "--unf"}
	genWhere    = []string{"after", "before", "end", "start", "AFTER"}
	genExists   = []string{"addIfDifferentNeighbor", "addIfDifferent", "add", "replace", "doNothing", "ADD"}
	genMissing  = []string{"add", "doNothing"}
	genSpelling = map[string][]string{
		"--trailer":    {"--trailer", "--trailer=", "--trai", "--trail="},
		"--where":      {"--where", "--where=", "--wh"},
		"--if-exists":  {"--if-exists", "--if-exists=", "--if-e"},
		"--if-missing": {"--if-missing", "--if-missing=", "--if-m="},
	}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.Intn(len(xs))] }

func genMessage(r *rand.Rand) []byte {
	var b strings.Builder
	if r.Intn(10) > 0 {
		b.WriteString(pick(r, genTitles) + "\n")
	}
	for n := r.Intn(3); n > 0; n-- {
		b.WriteString("\n" + pick(r, genBodies) + "\n")
	}
	if r.Intn(6) > 0 {
		b.WriteString("\n")
		for n := r.Intn(6); n >= 0; n-- {
			b.WriteString(pick(r, genLines) + "\n")
		}
	}
	for r.Intn(3) == 0 {
		b.WriteString(pick(r, genTails))
	}
	s := b.String()
	if r.Intn(8) == 0 { // CRLF, whole message or some lines
		if r.Intn(2) == 0 {
			s = strings.ReplaceAll(s, "\n", "\r\n")
		} else {
			s = strings.Replace(s, "\n", "\r\n", 2)
		}
	}
	if r.Intn(10) == 0 {
		s = strings.TrimSuffix(s, "\n")
	}
	return []byte(s)
}

func genArgs(r *rand.Rand) []string {
	var args []string
	opt := func(name, val string) {
		sp := pick(r, genSpelling[name])
		if strings.HasSuffix(sp, "=") {
			args = append(args, sp+val)
		} else {
			args = append(args, sp, val)
		}
	}
	for n := r.Intn(6); n > 0; n-- {
		switch k := r.Intn(10); {
		case k < 5:
			opt("--trailer", pick(r, genTrailers))
		case k == 5:
			opt("--where", pick(r, genWhere))
		case k == 6:
			opt("--if-exists", pick(r, genExists))
		case k == 7:
			opt("--if-missing", pick(r, genMissing))
		default:
			o := pick(r, genOpts)
			if (o == "--only-input" || o == "--parse") && r.Intn(3) > 0 {
				o = "--only-trailers"
			}
			args = append(args, o)
		}
	}
	return args
}

func genConfig(r *rand.Rand) []ConfigItem {
	var cfg []ConfigItem
	for n := r.Intn(4); n > 0; n-- {
		cfg = append(cfg, pick(r, genConfigs)...)
	}
	return cfg
}

// hangsIn239 reports whether git 2.39 would loop forever on input: a "---"
// divider in force and a scissors line after it (fixed in git 2.45).
func hangsIn239(input []byte, cfg []ConfigItem, argv []string) bool {
	c, err := NewConfig(cfg)
	if err != nil {
		return false
	}
	inv, aerr := ParseArgs("git", argv)
	if aerr != nil || inv.Options.NoDivider {
		return false
	}
	m := newMsg(input, c.commentChar)
	ps := m.patchStart()
	p := bytes.Index(m.buf[:m.n], []byte("\n"+string(c.commentChar)+" "+cutLine))
	return p >= 0 && p+1 >= ps && ps < m.n
}

// TestDifferential feeds generated messages, option lists and
// configurations to the installed git interpret-trailers and to this package
// and requires the same stdout, stderr and exit status.
//
// The two documented version differences between the installed git 2.39 and
// the semantics this package implements are handled here, and only these:
//   - input without a final newline: git >= 2.47 adds one first, 2.39 does
//     not; git is given the input with the newline added, so the case is
//     still compared (against what a current git would see);
//   - a "---" divider followed by a scissors line: git 2.39 loops forever
//     (fixed in 2.45); such cases are skipped and counted.
func TestDifferential(t *testing.T) {
	needGit(t)
	n := *diffCases
	if testing.Short() {
		n = 200
	}
	dir := t.TempDir()
	r := rand.New(rand.NewSource(*diffSeed))
	compared, skipped, completed, failed := 0, 0, 0, 0
	for i := 0; i < n; i++ {
		input, argv, cfg := genMessage(r), genArgs(r), genConfig(r)
		if hangsIn239(input, cfg, argv) {
			skipped++
			continue
		}
		gitIn := input
		if len(input) > 0 && input[len(input)-1] != '\n' {
			gitIn = append(append([]byte(nil), input...), '\n')
			completed++
		}
		want := runGit(t, dir, cfg, argv, gitIn)
		got := runEngine(dir, cfg, argv, input)
		compared++
		if got != want {
			failed++
			if failed <= 10 {
				t.Errorf("case %d: config %v, args %q, input %q:\nengine %#v\ngit    %#v", i, cfg, argv, input, got, want)
			}
		}
	}
	t.Logf("differential: %d cases compared with git (%d of them with the final newline completed for git 2.39), %d skipped (2.39 divider+scissors hang), %d differ",
		compared, completed, skipped, failed)
	if failed > 0 {
		t.Errorf("%d of %d cases differ from git", failed, compared)
	}
}

// optWords are command-line words for TestDifferentialOptions: every option
// spelled in full, abbreviated, negated, with and without values, plus
// operands and the odd things parse-options must refuse.
var optWords = []string{
	"--trim-empty", "--trim", "--t", "--tr", "--tra", "--no-t", "--no-tr", "--no-trailer", "--no-trai",
	"--where=end", "--where", "start", "--wh=after", "--w", "--no-where", "--no-w", "--no-where=x",
	"--if-exists", "--if", "--if-e=add", "--if-m", "doNothing", "--no-if", "--no-if-e", "--if-exists=Replace",
	"--only-trailers", "--only", "--o", "--only-i", "--no-only-i", "--unfold", "--un", "--u=1", "--no-unfold",
	"--no-u", "--parse", "--pa", "--p", "--no-parse", "--no-p", "--no-divider", "--no-div", "--div", "--divider",
	"--divider=1", "--no-divider=1", "--no", "--no-", "--n", "-h", "-x", "-xh", "-", "--help-all",
	"--no-no-divider", "--trailer=a: b", "--trailer", "c=d", "--trail=e", "--in=1", "--no-in=1", "--no-in",
	"--i", "x: y", "--=", "---", "--unknown", "--no-unknown", "msg", "--only-input", "--no-in-place", "--if-missing=add",
}

// TestDifferentialOptions compares git's parse-options with ParseArgs on
// random command lines: same output, messages and exit status.
func TestDifferentialOptions(t *testing.T) {
	needGit(t)
	n := *diffCases / 3
	if testing.Short() {
		n = 100
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "msg"), []byte("subj\n\nA: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(*diffSeed))
	compared, failed := 0, 0
	for i := 0; i < n; i++ {
		var argv []string
		for k := r.Intn(5) + 1; k > 0; k-- {
			argv = append(argv, pick(r, optWords))
		}
		if r.Intn(8) == 0 {
			argv = append(argv, "--", "msg")
		}
		input := []byte("subj\n\nT: a\n")
		want := runGit(t, dir, nil, argv, input)
		got := runEngine(dir, nil, argv, input)
		compared++
		if got != want {
			failed++
			if failed <= 10 {
				t.Errorf("args %q:\nengine %#v\ngit    %#v", argv, got, want)
			}
		}
	}
	t.Logf("options: %d command lines compared with git, %d differ", compared, failed)
}
