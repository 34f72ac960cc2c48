package trailers

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type ruleCase struct {
	name string
	cfg  []ConfigItem
	args []string
	in   string
	want string // stdout
	err  string // stderr
	code int
}

func kv(pairs ...string) []ConfigItem {
	var c []ConfigItem
	for i := 0; i+1 < len(pairs); i += 2 {
		c = append(c, ConfigItem{Key: pairs[i], Value: pairs[i+1]})
	}
	return c
}

// ruleCases were each observed from git 2.39.5 (and are checked against the
// installed git again by TestRules when it is there). Inputs all end in a
// newline except where the newer git behaviour is the point.
var ruleCases = []ruleCase{
	// Finding the block.
	{name: "title paragraph is never a block", args: []string{"--trailer", "T:a"}, in: "A: b\nC: d\n", want: "A: b\nC: d\n\nT: a\n"},
	{name: "last paragraph of trailers", args: []string{"--trailer", "T: x"}, in: "subj\n\nbody\n\nA: 1\nB: 2\n", want: "subj\n\nbody\n\nA: 1\nB: 2\nT: x\n"},
	{name: "no recognised trailer and one odd line is no block", args: []string{"--trailer", "Tested-by: T <t@y>"},
		in:   "subj\n\nbody\n\nFixes: 123456789abc (\"foo: bar\")\n[jd: fixed conflict in foo.c]\nLink: https://x\n",
		want: "subj\n\nbody\n\nFixes: 123456789abc (\"foo: bar\")\n[jd: fixed conflict in foo.c]\nLink: https://x\n\nTested-by: T <t@y>\n"},
	{name: "25% rule with Signed-off-by", args: []string{"--trailer", "Tested-by: T <t@y>"},
		in:   "subj\n\nbody\n\nFixes: x\nSigned-off-by: A <a@b>\n[jd: fixed]\nSigned-off-by: B <b@c>\n",
		want: "subj\n\nbody\n\nFixes: x\nSigned-off-by: A <a@b>\n[jd: fixed]\nSigned-off-by: B <b@c>\nTested-by: T <t@y>\n"},
	{name: "below 25% is no block", args: []string{"--trailer", "T: x"},
		in:   "subj\n\nbody\n\nSigned-off-by: A <a@b>\nl1\nl2\nl3\nl4\n",
		want: "subj\n\nbody\n\nSigned-off-by: A <a@b>\nl1\nl2\nl3\nl4\n\nT: x\n"},
	{name: "exactly 25% is a block", args: []string{"--trailer", "T: x"},
		in:   "subj\n\nSigned-off-by: A <a@b>\nl1\nl2\nl3\n",
		want: "subj\n\nSigned-off-by: A <a@b>\nl1\nl2\nl3\nT: x\n"},
	{name: "cherry-pick line is recognised", args: []string{"--trailer", "T: x"},
		in:   "subj\n\n(cherry picked from commit abc)\nodd line\n",
		want: "subj\n\n(cherry picked from commit abc)\nodd line\nT: x\n"},
	{name: "configured token is recognised", cfg: kv("trailer.link.key", "Link"), args: []string{"--trailer", "T: x"},
		in:   "subj\n\nLi: x\nodd\n",
		want: "subj\n\nLink: x\nodd\nT: x\n"},
	{name: "dot in token kills the block", args: []string{"--parse"}, in: "subj\n\nbody\n\nTested-by: A <a@b>\nX.Sig: abc\n", want: ""},
	{name: "blank inside token is not a trailer", args: []string{"--parse"}, in: "subj\n\nTested by: x\n", want: ""},
	{name: "continuation lines", args: []string{"--trailer", "T: x"},
		in:   "subj\n\nK: a\n  b\n\tc\n",
		want: "subj\n\nK: a\n  b\n\tc\nT: x\n"},
	{name: "unfold", args: []string{"--unfold"}, in: "subj\n\nK: a \n  b\n\tc\nL: x\n", want: "subj\n\nK: a  b c\nL: x\n"},
	{name: "parse unfolds", args: []string{"--parse"}, in: "subj\n\nSigned-off-by: A <a@b>\nK: v=1;\n b=AAAA\n BBBB\n",
		want: "Signed-off-by: A <a@b>\nK: v=1; b=AAAA BBBB\n"},
	{name: "comment line inside block is deleted", args: []string{"--trailer", "C: 3"}, in: "subj\n\nA: 1\n# c\nB: 2\n", want: "subj\n\nA: 1\nB: 2\nC: 3\n"},
	{name: "core.commentChar", cfg: kv("core.commentchar", ";"), args: []string{"--trailer", "C: 3"},
		in: "subj\n\nA: 1\n; c\nB: 2\n\n; tail\n", want: "subj\n\nA: 1\nB: 2\nC: 3\n\n; tail\n"},
	{name: "commentChar auto is #", cfg: kv("core.commentchar", "auto"), args: []string{},
		in: "subj\n\n; c\nA: 1\n# d\n", want: "subj\n\n; c\nA: 1\n\n# d\n"},
	{name: "commentChar auto keeps the previous one", cfg: kv("core.commentchar", ";", "core.commentchar", "auto"), args: []string{},
		in: "subj\n\n; c\nA: 1\n# d\n", want: "subj\n\n; c\nA: 1\n# d\n\n"},
	{name: "divider ends the message", args: []string{"--trailer", "T: x"}, in: "subj\n\nA: 1\n---\nfoo: bar\n", want: "subj\n\nA: 1\nT: x\n---\nfoo: bar\n"},
	{name: "divider with tab", args: []string{"--parse"}, in: "subj\n\nT: y\n---\tfoo\n\nT: x\n", want: "T: y\n"},
	{name: "---foo is no divider", args: []string{"--parse"}, in: "subj\n\nbody\n---foo\n\nT: x\n", want: "T: x\n"},
	{name: "no-divider", args: []string{"--no-divider", "--trailer", "T: x"}, in: "subj\n\nA: 1\n---\nfoo: bar\n", want: "subj\n\nA: 1\n---\nfoo: bar\n\nT: x\n"},
	{name: "scissors", args: []string{"--trailer", "T: x"},
		in:   "subj\n\nA: 1\n# ------------------------ >8 ------------------------\nB: 2\n",
		want: "subj\n\nA: 1\nT: x\n# ------------------------ >8 ------------------------\nB: 2\n"},
	{name: "no-divider: scissors after ---", args: []string{"--no-divider", "--trailer", "T=x"},
		in:   "subj\n\nA: 1\n---\nx\n# ------------------------ >8 ------------------------\n",
		want: "subj\n\nA: 1\n---\nx\n\nT: x\n# ------------------------ >8 ------------------------\n"},
	{name: "conflicts block", args: []string{"--trailer", "T: x"},
		in:   "subj\n\nA: 1\n\nConflicts:\n\tfoo.c\n\tbar.c\n",
		want: "subj\n\nA: 1\nT: x\n\nConflicts:\n\tfoo.c\n\tbar.c\n"},
	{name: "CRLF lines lose the CR", args: []string{"--trailer", "T: x"}, in: "subj\r\n\r\nSigned-off-by: A\r\n", want: "subj\r\n\r\nSigned-off-by: A\nT: x\n"},
	{name: "trailing blank line kept", args: []string{"--trailer", "T: x"}, in: "subj\n\nbody\n\n", want: "subj\n\nbody\n\nT: x\n\n"},
	{name: "trailing blank lines kept after block", args: []string{"--trailer", "T: x"}, in: "subj\n\nSigned-off-by: A\n\n\n", want: "subj\n\nSigned-off-by: A\nT: x\n\n\n"},
	{name: "empty input", args: []string{"--trailer", "T: x"}, in: "", want: "\nT: x\n"},
	{name: "no final newline (git >= 2.47)", args: []string{"--trailer", "A: b"}, in: "area: change", want: "area: change\n\nA: b\n"},
	// Normalisation.
	{name: "existing trailers normalised", args: []string{}, in: "subj\n\nAcked-by :Peff\nFixes:abc\nX-y\t:  z  \n", want: "subj\n\nAcked-by: Peff\nFixes: abc\nX-y: z\n"},
	{name: "# separator without key rewritten", cfg: kv("trailer.separators", ":#"), args: []string{"--trailer", "T: x"}, in: "subj\n\nBug #42\n", want: "subj\n\nBug: 42\nT: x\n"},
	{name: "key ending in separator", cfg: kv("trailer.separators", ":#", "trailer.bug.key", "Bug #"), args: []string{"--trailer", "bug=42"}, in: "subj\n", want: "subj\n\nBug #42\n"},
	{name: "key with = not a separator", cfg: kv("trailer.ack.key", "Acked-by= "), args: []string{"--trailer", "ack=Peff"}, in: "subj\n\nA= 1\n", want: "subj\n\nA= 1\n\nAcked-by= : Peff\n"},
	{name: "existing token replaced by key", cfg: kv("trailer.ack.key", "Acked-by= ", "trailer.separators", ":="), args: []string{"--trailer", "ack=Peff"}, in: "subj\n\nA: 1\n", want: "subj\n\nAcked-by= 1\nAcked-by= Peff\n"},
	{name: "trim-empty", args: []string{"--trim-empty", "--trailer", "E:", "--trailer", "F: f"}, in: "subj\n\nA:\nB: b\n", want: "subj\n\nB: b\nF: f\n"},
	{name: "only-trailers", args: []string{"--only-trailers"}, in: "subj\n\nbody\n\nSigned-off-by: A\nodd\n", want: "Signed-off-by: A\n"},
	{name: "only-input", args: []string{"--only-input"}, cfg: kv("trailer.x.command", "echo hi"), in: "subj\n\nA: 1\n", want: "subj\n\nA: 1\n"},
	// Adding.
	{name: "token prefix matches config", cfg: kv("trailer.ack.key", "Acked-by"), args: []string{"--trailer", "a: x"}, in: "subj\n", want: "subj\n\nAcked-by: x\n"},
	{name: "token compare is a prefix compare", args: []string{"--trailer", "Review: A"}, in: "subj\n\nReviewed-by: A\n", want: "subj\n\nReviewed-by: A\n"},
	{name: "neighbour only", args: []string{"--trailer", "Tested-by: T"}, in: "subj\n\nTested-by: T\nSigned-off-by: X\n", want: "subj\n\nTested-by: T\nSigned-off-by: X\nTested-by: T\n"},
	{name: "values compare case-insensitively", args: []string{"--trailer", "tested-by: T <t@y>"}, in: "subj\n\nTested-by: t <T@y>\n", want: "subj\n\nTested-by: t <T@y>\n"},
	{name: "addIfDifferent", args: []string{"--if-exists", "addIfDifferent", "--trailer", "T: a", "--trailer", "T: b"}, in: "subj\n\nT: a\nS: x\n", want: "subj\n\nT: a\nS: x\nT: b\n"},
	{name: "add", args: []string{"--if-exists", "add", "--trailer", "T: a"}, in: "subj\n\nT: a\n", want: "subj\n\nT: a\nT: a\n"},
	{name: "replace", args: []string{"--if-exists", "replace", "--trailer", "T: z"}, in: "subj\n\nT: a\nS: x\nT: b\n", want: "subj\n\nT: a\nS: x\nT: z\n"},
	{name: "doNothing", args: []string{"--if-exists", "doNothing", "--trailer", "T: z"}, in: "subj\n\nT: a\n", want: "subj\n\nT: a\n"},
	{name: "ifmissing doNothing", args: []string{"--if-missing", "doNothing", "--trailer", "T: z"}, in: "subj\n\nA: a\n", want: "subj\n\nA: a\n"},
	{name: "where after", args: []string{"--where", "after", "--trailer", "T: z"}, in: "subj\n\nT: a\nS: x\n", want: "subj\n\nT: a\nT: z\nS: x\n"},
	{name: "where before", args: []string{"--where", "before", "--trailer", "S: z"}, in: "subj\n\nT: a\nS: x\n", want: "subj\n\nT: a\nS: z\nS: x\n"},
	{name: "where start", args: []string{"--where", "start", "--trailer", "U: z"}, in: "subj\n\nT: a\nS: x\n", want: "subj\n\nU: z\nT: a\nS: x\n"},
	{name: "options apply to following trailers", args: []string{"--trailer", "A: 1", "--where", "start", "--trailer", "B: 2", "--no-where", "--trailer", "C: 3"}, in: "subj\n\nT: a\n", want: "subj\n\nB: 2\nT: a\nA: 1\nC: 3\n"},
	{name: "config where", cfg: kv("trailer.where", "start"), args: []string{"--trailer", "U: z"}, in: "subj\n\nT: a\n", want: "subj\n\nU: z\nT: a\n"},
	{name: "per-token config", cfg: kv("trailer.fix.key", "Fixes", "trailer.fix.ifexists", "replace"), args: []string{"--trailer", "fix=b"}, in: "subj\n\nFixes: a\n", want: "subj\n\nFixes: b\n"},
	{name: "no separator means empty value", args: []string{"--trailer", "Reviewed-by"}, in: "subj\n", want: "subj\n\nReviewed-by: \n"},
	{name: "empty token", args: []string{"--trailer", ":x", "--trailer", "=z", "--trailer", " :y"}, in: "subj\n", want: "subj\n\n:y: \n", err: "error: empty trailer token in trailer ':x'\nerror: empty trailer token in trailer '=z'\n"},
	{name: "value with newline", args: []string{"--trailer", "Rapido-Sig: a\n b"}, in: "subj\n", want: "subj\n\nRapido-Sig: a\n b\n"},
	{name: "no-trailer clears", args: []string{"--trailer", "A: 1", "--no-trailer", "--trailer", "B: 2"}, in: "subj\n", want: "subj\n\nB: 2\n"},
	// Commands.
	{name: "cmd gets the value as $1", cfg: kv("trailer.x.cmd", `echo "[$0][$#][$1]"`), args: []string{"--trailer", "x: 1"}, in: "subj\n", want: "subj\n\nx: [echo \"[$0][$#][$1]\"][1][1] 1\n"},
	{name: "command substitutes $ARG and runs first", cfg: kv("trailer.x.command", "echo v=$ARG"), args: []string{"--trailer", "x: 1"}, in: "subj\n", want: "subj\n\nx: v=\nx: v=1\n"},
	{name: "cmd does not auto-add", cfg: kv("trailer.x.cmd", "echo hi"), args: []string{}, in: "subj\n", want: "subj\n\n"},
	{name: "command with existing value", cfg: kv("trailer.x.command", "echo got $ARG"), args: []string{}, in: "subj\n\nx: old\n", want: "subj\n\nx: old\nx: got old\n"},
	{name: "failing command", cfg: kv("trailer.x.cmd", "false"), args: []string{"--trailer", "x: 1"}, in: "subj\n", want: "subj\n\nx: \n", err: "error: running trailer command 'false' failed\n"},
	{name: "section names are case-insensitive", cfg: kv("trailer.Ack.key", "Acked-by", "trailer.ack.where", "start"), args: []string{"--trailer", "ack=x"},
		in: "subj\n\nT: a\n", want: "subj\n\nAcked-by: x\nT: a\n"},
	{name: "only the first $ARG is replaced", cfg: kv("trailer.x.command", "echo $ARG-$ARG"), args: []string{"--trailer", "x=1"},
		in: "subj\n", want: "subj\n\nx: -\nx: 1-\n"},
	{name: "cmd wins over command", cfg: kv("trailer.x.command", "echo command", "trailer.x.cmd", "echo cmd"), args: []string{"--trailer", "x=1"},
		in: "subj\n", want: "subj\n\nx: cmd\nx: cmd 1\n"},
	{name: "first matching section wins", cfg: kv("trailer.abc.key", "Abc", "trailer.abd.key", "Abd"), args: []string{"--trailer", "ab=1", "--trailer", "abd=2"},
		in: "subj\n", want: "subj\n\nAbc: 1\nAbd: 2\n"},
	{name: "dotted section name", cfg: kv("trailer.a.b.key", "Ab"), args: []string{"--trailer", "a=1", "--trailer", "a.b=2"},
		in: "subj\n", want: "subj\n\nAb: 1\na.b=2: \n"},
	{name: "NUL ends the message", args: []string{"--trailer", "T=x"}, in: "subj\n\nA: 1\x00B: 2\nC: 3\n", want: "subj\n\nA: 1\nT: x\n\x00B: 2\nC: 3\n"},
	{name: "odd separators", cfg: kv("trailer.separators", "a%"), args: []string{"--trailer", "Tab: x", "--trailer", "K%v"},
		in: "subj\n\nBa: 1\nX% 2\n", want: "subj\n\nBa : 1\nXa 2\nTa b: x\nKa v\n"},
	{name: "space separator", cfg: kv("trailer.separators", " :"), args: []string{"--trailer", "Key value"},
		in: "subj\n\nFixes abc\n", want: "subj\n\nFixes  abc\nKey  value\n"},
	{name: "empty separators", cfg: kv("trailer.separators", ""), args: []string{"--trailer", "K=v"},
		in: "subj\n\nA: 1\n", want: "subj\n\nA: 1\n\nK\x00 v\n"},
	// Configuration messages.
	{name: "config warnings", cfg: kv("trailer.where", "bogus", "trailer.x.ifexists", "zz", "trailer.x.key", "X", "trailer.x.key", "Y"), args: []string{"--trailer", "x: 1"},
		in: "subj\n", want: "subj\n\nY: 1\n", err: "warning: unknown value 'bogus' for key 'trailer.where'\nwarning: unknown value 'zz' for key 'trailer.x.ifexists'\nwarning: more than one trailer.x.key\n"},
	{name: "valueless trailer.where acts as start", cfg: []ConfigItem{{Key: "trailer.where", NoValue: true}}, args: []string{"--trailer", "x=2", "--trailer", "y=3"},
		in: "subj\n\nx: 1\n", want: "subj\n\ny: 3\nx: 2\nx: 1\n"},
	{name: "valueless core.commentChar", cfg: []ConfigItem{{Key: "core.commentchar", NoValue: true}}, args: []string{}, in: "subj\n",
		err: "error: missing value for 'core.commentchar'\nfatal: unable to parse 'core.commentchar' from command-line config\n", code: 128},
	// Option parsing.
	{name: "abbreviations", args: []string{"--tra=a: 1", "--wh", "start", "--trail", "b: 2"}, in: "subj\n", want: "subj\n\nb: 2\na: 1\n"},
	{name: "ambiguous", args: []string{"--tr", "a=b"}, in: "subj\n", want: Usage("git interpret-trailers"), err: "error: ambiguous option: tr (could be --trim-empty or --trailer)\n", code: 129},
	{name: "unknown option", args: []string{"--foo=bar"}, in: "subj\n", err: "error: unknown option `foo=bar'\n" + Usage("git interpret-trailers"), code: 129},
	{name: "bad where", args: []string{"--where", "foo"}, in: "subj\n", code: 129},
	{name: "takes no value", args: []string{"--parse=1"}, in: "subj\n", err: "error: option `parse' takes no value\n", code: 129},
	{name: "requires a value", args: []string{"--where"}, in: "subj\n", err: "error: option `where' requires a value\n", code: 129},
	{name: "divider negates no-divider", args: []string{"--no-divider", "--divider", "--trailer", "T: x"}, in: "subj\n\nA: 1\n---\nfoo: bar\n", want: "subj\n\nA: 1\nT: x\n---\nfoo: bar\n"},
	{name: "trailer with only-input", args: []string{"--only-input", "--trailer", "a"}, in: "subj\n", err: "fatal: --trailer with --only-input does not make sense\n\n" + Usage("git interpret-trailers"), code: 129},
	{name: "-h", args: []string{"-h"}, in: "subj\n", want: Usage("git interpret-trailers"), code: 129},
	{name: "in-place without file", args: []string{"--in-place"}, in: "subj\n", err: "fatal: no input file given for in-place editing\n", code: 128},
	{name: "bad commentChar", cfg: kv("core.commentchar", "ab"), args: []string{}, in: "subj\n",
		err: "error: core.commentChar should only be one character\nfatal: unable to parse 'core.commentchar' from command-line config\n", code: 128},
}

func TestRules(t *testing.T) {
	dir := t.TempDir()
	_, err := exec.LookPath("git")
	haveGit := err == nil
	if !haveGit {
		t.Log("git not on PATH: checking the engine against the recorded observations only")
	}
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			want := result{tc.want, tc.err, tc.code}
			got := runEngine(dir, tc.cfg, tc.args, []byte(tc.in))
			if got != want {
				t.Errorf("engine(%q, %q) =\n%#v\nwant\n%#v", tc.in, tc.args, got, want)
			}
			if !haveGit {
				return
			}
			in := tc.in
			if in != "" && !strings.HasSuffix(in, "\n") {
				in += "\n" // git 2.39 does not complete the line itself
			}
			if g := runGit(t, dir, tc.cfg, tc.args, []byte(in)); g != want {
				t.Errorf("git interpret-trailers(%q, %q) =\n%#v\nwant\n%#v", in, tc.args, g, want)
			}
		})
	}
}

// TestDividerThenScissors covers the input git 2.39 loops forever on (a
// "---" divider and a scissors line after it, fixed in git 2.45, so it cannot
// be checked against the installed git): the scissors line lies beyond the
// end of the message and is ignored.
func TestDividerThenScissors(t *testing.T) {
	in := "subj\n\nA: 1\n---\nx\n# ------------------------ >8 ------------------------\n"
	want := "subj\n\nA: 1\nT: x\n---\nx\n# ------------------------ >8 ------------------------\n"
	got, err := Process([]byte(in), Options{}, DefaultConfig(), []Arg{{Text: "T=x"}}, nil)
	if err != nil || string(got) != want {
		t.Errorf("Process(%q) = %q, %v; want %q", in, got, err, want)
	}
	// With --no-divider the scissors line ends the message instead.
	want = "subj\n\nA: 1\n---\nx\n\nT: x\n# ------------------------ >8 ------------------------\n"
	got, _ = Process([]byte(in), Options{NoDivider: true}, DefaultConfig(), []Arg{{Text: "T=x"}}, nil)
	if string(got) != want {
		t.Errorf("Process(%q, --no-divider) = %q; want %q", in, got, want)
	}
}

// TestParse checks the reader API used by git rapido log and verify.
func TestParse(t *testing.T) {
	msg := "subj\n\nbody\n\nSigned-off-by: A <a@b>\n# note\nRapido-Sig: v=1;\n b=AAAA\n[jd: fixed]\nacked-by :X"
	b := Parse([]byte(msg), DefaultConfig())
	if b.Start != 12 || b.End != len(msg)+1 || !b.BlankBefore {
		t.Errorf("Parse block = [%d,%d) blank %v, want [12,%d) blank true", b.Start, b.End, b.BlankBefore, len(msg)+1)
	}
	want := []Trailer{
		{Raw: "Signed-off-by: A <a@b>", Token: "Signed-off-by", Key: "Signed-off-by", Value: "A <a@b>", Folded: "A <a@b>"},
		{Raw: "Rapido-Sig: v=1;\n b=AAAA", Token: "Rapido-Sig", Key: "Rapido-Sig", Value: "v=1; b=AAAA", Folded: "v=1;\n b=AAAA"},
		{Raw: "[jd: fixed]"},
		{Raw: "acked-by :X", Token: "acked-by", Key: "acked-by", Value: "X", Folded: "X"},
	}
	if diff := cmp.Diff(want, b.Lines); diff != "" {
		t.Errorf("Parse lines (-want +got):\n%s", diff)
	}
	if n := len(b.Trailers()); n != 3 {
		t.Errorf("Trailers() has %d entries, want 3", n)
	}
	cfg, _ := NewConfig(kv("trailer.ack.key", "Acked-by"))
	if k := Parse([]byte(msg), cfg).Trailers()[2].Key; k != "Acked-by" {
		t.Errorf("Key with trailer.ack.key = %q, want Acked-by", k)
	}
}
