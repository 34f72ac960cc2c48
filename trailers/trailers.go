// Package trailers reads and writes commit message trailers exactly as
// "git interpret-trailers" does: the same trailer block, the same
// normalisation of existing trailers, the same placement of new ones and the
// same reading of the trailer.* configuration.
//
// The package is pure: it does no I/O and never runs git. Configuration comes
// in as a list of git config entries (NewConfig), and the one side effect git
// has, running trailer.<token>.cmd and .command, goes through a CommandRunner
// the caller supplies.
//
// The behaviour was built from git's documentation (git-interpret-trailers(1),
// the trailer.* part of git-config(1)) and by probing git 2.39.5 as a black
// box. Two later changes are followed instead of 2.39: input without a final
// newline gets one before parsing (git >= 2.47), and a "---" divider
// followed later by a scissors line no longer loops forever (git >= 2.45).
//
// # Trailer block
//
// The block is the last paragraph of the message proper. The message ends at
// the first line that starts with "---" and a space, tab or newline (unless
// NoDivider), before a scissors line ("# ------------------------ >8
// ------------------------", with the comment character), and before a
// trailing run of blank lines, comment lines and an old-style "Conflicts:"
// block. The title paragraph is never a block. A paragraph is a block when
// all its lines are trailers (token, optional blanks, separator), or when at
// least a quarter of them are and one is recognised: "Signed-off-by: ",
// "(cherry picked from commit ", or a token that is a prefix of a configured
// trailer.<name> name or key. Lines starting with blanks continue the
// trailer above them.
package trailers

import (
	"bytes"
	"strings"
)

// Options are interpret-trailers' switches that change parsing and output.
type Options struct {
	TrimEmpty    bool // --trim-empty
	OnlyTrailers bool // --only-trailers
	OnlyInput    bool // --only-input: do not add anything
	Unfold       bool // --unfold
	NoDivider    bool // --no-divider
	// Warn receives each "error: ..." line git would print on stderr while
	// processing (empty token, failed command), at the moment git prints
	// it. Nil drops them.
	Warn func(line string)
}

// ParseOptions are the options of --parse.
var ParseOptions = Options{OnlyTrailers: true, OnlyInput: true, Unfold: true}

// Arg is one --trailer with the --where, --if-exists and --if-missing in
// force where it stood on the command line (the *Default values defer to
// the configuration, as after --no-where).
type Arg struct {
	Text      string
	Where     Where
	IfExists  IfExists
	IfMissing IfMissing
}

// CommandRunner runs a trailer command and returns its standard output. argv
// is exactly what git executes: ["/bin/sh", "-c", "<cmd> \"$@\"", "<cmd>",
// "<value>"] for a command with shell metacharacters, or the bare argv when
// there are none. The command's stdin must be /dev/null, its stderr the
// caller's, and git's repository environment variables must be removed
// (git rev-parse --local-env-vars). A non-nil error means the command failed;
// the trailer then gets an empty value, as in git.
type CommandRunner func(argv []string) (stdout []byte, err error)

// ShellPath is the shell git starts commands with.
const ShellPath = "/bin/sh"

// cutLine is the scissors line after the comment character and a space;
// its newline is part of it, so "...>8 ---...\r\n" is no scissors line.
const cutLine = "------------------------ >8 ------------------------\n"

// isSpace is git's isspace: no \v or \f.
func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// equalFoldN reports whether the first n bytes of a and b are equal ignoring
// ASCII case, where a string shorter than n must end at the same place
// (strncasecmp semantics).
func equalFoldN(a, b string, n int) bool {
	for i := 0; i < n; i++ {
		var ca, cb byte
		if i < len(a) {
			ca = a[i]
		}
		if i < len(b) {
			cb = b[i]
		}
		if lower(ca) != lower(cb) {
			return false
		}
		if ca == 0 {
			return true
		}
	}
	return true
}

func equalFold(a, b string) bool {
	return len(a) == len(b) && equalFoldN(a, b, len(a))
}

func trim(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// findSeparator returns the offset of the separator of a trailer line, or -1:
// a token of letters, digits and '-', then optional blanks, then one of seps.
func findSeparator[T string | []byte](line T, seps string) int {
	ws := false
	for c := 0; c < len(line); c++ {
		b := line[c]
		if b == 0 {
			break
		}
		if strings.IndexByte(seps, b) >= 0 {
			return c
		}
		if !ws && (isAlnum(b) || b == '-') {
			continue
		}
		if c != 0 && (b == ' ' || b == '\t') {
			ws = true
			continue
		}
		break
	}
	return -1
}

// tokenLen is the length of tok without trailing non-alphanumerics, so that
// "Acked-by:" and "Acked-by" compare alike.
func tokenLen(tok string) int {
	n := len(tok)
	for n > 0 && !isAlnum(tok[n-1]) {
		n--
	}
	return n
}

// matches reports whether the first n bytes of tok are a prefix of the
// section's name or key.
func (ic *itemConf) matches(tok string, n int) bool {
	return equalFoldN(tok, ic.name, n) || ic.hasKey && equalFoldN(tok, ic.key, n)
}

// tokenFor is the token a trailer matching ic is printed with.
func (ic *itemConf) tokenFor(tok string, haveTok bool) string {
	if ic.hasKey {
		return ic.key
	}
	if haveTok {
		return tok
	}
	return ic.name
}

// msg is the input seen as git sees it: a C string ends at the first NUL.
type msg struct {
	buf []byte
	n   int
	cc  byte
}

func newMsg(input []byte, cc byte) *msg {
	buf := input
	if len(buf) > 0 && buf[len(buf)-1] != '\n' {
		buf = append(buf[:len(buf):len(buf)], '\n')
	}
	n := bytes.IndexByte(buf, 0)
	if n < 0 {
		n = len(buf)
	}
	return &msg{buf: buf, n: n, cc: cc}
}

func (m *msg) at(i int) byte {
	if i < m.n {
		return m.buf[i]
	}
	return 0
}

func (m *msg) nextLine(i int) int {
	if i >= m.n {
		return m.n
	}
	j := bytes.IndexByte(m.buf[i:m.n], '\n')
	if j < 0 {
		return m.n
	}
	return i + j + 1
}

func (m *msg) hasPrefix(i int, p string) bool {
	return i <= m.n && bytes.HasPrefix(m.buf[i:m.n], []byte(p))
}

func (m *msg) isBlankLine(i int) bool {
	for i < m.n && m.buf[i] != '\n' && isSpace(m.buf[i]) {
		i++
	}
	return i >= m.n || m.buf[i] == '\n'
}

// lastLine returns the start of the last line of buf[:l], or -1 when l is 0.
func lastLine(buf []byte, l int) int {
	if l == 0 {
		return -1
	}
	if l == 1 {
		return 0
	}
	if i := bytes.LastIndexByte(buf[:l-1], '\n'); i >= 0 {
		return i + 1
	}
	return 0
}

// patchStart is where the message ends at a "---" divider.
func (m *msg) patchStart() int {
	for i := 0; i < m.n; i = m.nextLine(i) {
		if m.hasPrefix(i, "---") && i+3 < m.n && isSpace(m.buf[i+3]) {
			return i
		}
	}
	return m.n
}

// trailerEnd drops from buf[:l] the scissors line and what follows, then the
// trailing run of comment lines, empty lines and "Conflicts:" blocks.
func (m *msg) trailerEnd(l int) int {
	cutoff := l
	pat := "\n" + string(m.cc) + " " + cutLine
	if m.hasPrefix(0, pat[1:]) {
		cutoff = 0
	} else if p := bytes.Index(m.buf[:m.n], []byte(pat)); p >= 0 && p+1 < l {
		cutoff = p + 1
	}
	boc, inConflicts := 0, false // boc == 0 means "no run", also for a run at 0
	for bol := 0; bol < cutoff; {
		next := cutoff
		if j := bytes.IndexByte(m.buf[bol:cutoff], '\n'); j >= 0 {
			next = bol + j + 1
		}
		switch {
		case m.buf[bol] == m.cc || m.buf[bol] == '\n':
			if boc == 0 {
				boc = bol
			}
		case m.hasPrefix(bol, "Conflicts:\n"):
			inConflicts = true
			if boc == 0 {
				boc = bol
			}
		case inConflicts && m.buf[bol] == '\t':
		case boc != 0:
			boc, inConflicts = 0, false
		}
		bol = next
	}
	if boc != 0 {
		return boc
	}
	return cutoff
}

var generatedPrefixes = []string{"Signed-off-by: ", "(cherry picked from commit "}

// trailerStart finds the start of the block in buf[:l], or l when there is
// none.
func (m *msg) trailerStart(l int, cfg *Config) int {
	i := 0
	for ; i < l; i = m.nextLine(i) {
		if m.at(i) == m.cc {
			continue
		}
		if m.isBlankLine(i) {
			break
		}
	}
	endTitle := i
	onlySpaces, recognized := true, false
	trailers, nonTrailers, possible := 0, 0, 0
lines:
	for ln := lastLine(m.buf, l); ln >= endTitle; ln = lastLine(m.buf, ln) {
		if m.at(ln) == m.cc {
			nonTrailers += possible
			possible = 0
			continue
		}
		if m.isBlankLine(ln) {
			if onlySpaces {
				continue
			}
			nonTrailers += possible
			if recognized && trailers*3 >= nonTrailers || trailers > 0 && nonTrailers == 0 {
				return m.nextLine(ln)
			}
			return l
		}
		onlySpaces = false
		for _, p := range generatedPrefixes {
			if m.hasPrefix(ln, p) {
				trailers++
				possible = 0
				recognized = true
				continue lines
			}
		}
		sep := findSeparator(m.buf[ln:m.n], cfg.separators)
		switch {
		case sep >= 1 && !isSpace(m.buf[ln]):
			trailers++
			possible = 0
			if recognized {
				continue
			}
			tok := string(m.buf[ln : ln+sep])
			for _, ic := range cfg.items {
				if ic.matches(tok, sep) {
					recognized = true
					break
				}
			}
		case isSpace(m.at(ln)):
			possible++
		default:
			nonTrailers += 1 + possible
			possible = 0
		}
	}
	return l
}

// item is one entry of the trailer list: a trailer, or (isTrailer false) a
// line of the block that is not one, printed as is.
type item struct {
	isTrailer bool
	token     string
	value     string
	raw       string
	rawTok    string
	folded    string
}

// block is the located block and its raw entries.
type block struct {
	m           *msg
	start, end  int
	blankBefore bool
	entries     []string // lines with their continuation lines, with "\n"
}

func locate(input []byte, cfg *Config, noDivider bool) *block {
	m := newMsg(input, cfg.commentChar)
	ps := m.n
	if !noDivider {
		ps = m.patchStart()
	}
	end := m.trailerEnd(ps)
	start := m.trailerStart(end, cfg)
	b := &block{m: m, start: start, end: end}
	if ll := lastLine(m.buf, start); ll >= 0 {
		b.blankBefore = m.isBlankLine(ll)
	}
	last := -1
	for i := start; i < end; {
		j := bytes.IndexByte(m.buf[i:end], '\n')
		next := end
		if j >= 0 {
			next = i + j + 1
		}
		line := string(m.buf[i:next])
		i = next
		if last >= 0 && isSpace(line[0]) {
			b.entries[last] += line
			continue
		}
		b.entries = append(b.entries, line)
		last = -1
		if findSeparator(line, cfg.separators) >= 1 {
			last = len(b.entries) - 1
		}
	}
	return b
}

// parseTrailer splits text at sep (or takes it all as the token when sep is
// -1), trims both parts and applies the configured key of a matching
// section. It returns the matching section's configuration.
func parseTrailer(text string, sep int, cfg *Config) (tok, val string, conf *itemConf) {
	if sep >= 0 {
		tok, val = trim(text[:sep]), trim(text[sep+1:])
	} else {
		tok = trim(text)
	}
	conf = &cfg.def
	n := tokenLen(tok)
	for _, ic := range cfg.items {
		if ic.matches(tok, n) {
			return ic.tokenFor(tok, true), val, ic
		}
	}
	return tok, val, conf
}

// unfold joins continuation lines: each newline and the blanks after it
// become one space.
func unfold(v string) string {
	if strings.IndexByte(v, '\n') < 0 {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\n' {
			for i+1 < len(v) && isSpace(v[i+1]) {
				i++
			}
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(v[i])
	}
	return trim(b.String())
}

func (b *block) items(cfg *Config, opts Options) []*item {
	var list []*item
	for _, e := range b.entries {
		if e[0] == cfg.commentChar {
			continue
		}
		if sep := findSeparator(e, cfg.separators); sep >= 1 {
			tok, val, _ := parseTrailer(e, sep, cfg)
			folded := val
			if opts.Unfold {
				val = unfold(val)
			}
			list = append(list, &item{isTrailer: true, token: tok, value: val,
				raw: strings.TrimSuffix(e, "\n"), rawTok: trim(e[:sep]), folded: folded})
		} else if !opts.OnlyTrailers {
			v := strings.TrimSuffix(e, "\n")
			list = append(list, &item{value: v, raw: v})
		}
	}
	return list
}
