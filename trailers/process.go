package trailers

import (
	"bytes"
	"strings"
)

// argItem is a trailer to add, with the configuration that applies to it.
type argItem struct {
	token, value string
	conf         itemConf
}

type processor struct {
	cfg  *Config
	opts Options
	run  CommandRunner
	list []*item
}

func (p *processor) warn(line string) {
	if p.opts.Warn != nil {
		p.opts.Warn(line)
	}
}

// Process is the whole "git interpret-trailers" transformation of one input:
// it finds the trailer block, normalises it, adds args (unless
// opts.OnlyInput) after one empty-valued item per trailer.<name>.command, and
// returns what git prints on stdout. Messages git prints on stderr go to
// opts.Warn. run runs trailer commands; with a nil run every command fails.
// The returned error is always nil today; it is there for callers to
// handle should a future input be refused.
func Process(input []byte, opts Options, cfg *Config, args []Arg, run CommandRunner) ([]byte, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	b := locate(input, cfg, opts.NoDivider)
	p := &processor{cfg: cfg, opts: opts, run: run, list: b.items(cfg, opts)}
	buf := b.m.buf
	var out bytes.Buffer
	out.Grow(len(buf) + 64*len(args) + 64)
	if !opts.OnlyTrailers {
		out.Write(buf[:b.start])
		if !b.blankBefore {
			out.WriteByte('\n')
		}
	}
	if !opts.OnlyInput {
		p.apply(args)
	}
	for _, it := range p.list {
		if (!opts.TrimEmpty || it.value != "") && (!opts.OnlyTrailers || it.isTrailer) {
			p.print(&out, it)
		}
	}
	if !opts.OnlyTrailers {
		out.Write(buf[b.end:])
	}
	return out.Bytes(), nil
}

// print writes one entry as git does: "Token: value", or "Token#value" when
// the token already ends with a separator, or a non-trailer line as is.
func (p *processor) print(out *bytes.Buffer, it *item) {
	if !it.isTrailer {
		out.WriteString(it.value)
		out.WriteByte('\n')
		return
	}
	seps := p.cfg.separators
	var last byte
	for i := len(it.token) - 1; i >= 0; i-- {
		if !isSpace(it.token[i]) {
			last = it.token[i]
			break
		}
	}
	if last == 0 {
		return
	}
	out.WriteString(it.token)
	if strings.IndexByte(seps, last) < 0 {
		var s0 byte
		if seps != "" {
			s0 = seps[0]
		}
		out.WriteByte(s0)
		out.WriteByte(' ')
	}
	out.WriteString(it.value)
	out.WriteByte('\n')
}

func (p *processor) apply(args []Arg) {
	var todo []*argItem
	for _, ic := range p.cfg.items {
		if ic.hasCmd1 {
			todo = append(todo, &argItem{token: ic.tokenFor("", false), conf: *ic})
		}
	}
	clSeps := "=" + p.cfg.separators
	for _, a := range args {
		sep := findSeparator(a.Text, clSeps)
		if sep == 0 {
			p.warn("error: empty trailer token in trailer '" + trim(a.Text) + "'")
			continue
		}
		tok, val, conf := parseTrailer(a.Text, sep, p.cfg)
		ai := &argItem{token: tok, value: val, conf: *conf}
		if a.Where != WhereDefault {
			ai.conf.where = a.Where
		}
		if a.IfExists != ExistsDefault {
			ai.conf.ifExists = a.IfExists
		}
		if a.IfMissing != MissingDefault {
			ai.conf.ifMissing = a.IfMissing
		}
		todo = append(todo, ai)
	}
	for _, ai := range todo {
		if !p.applyIfExists(ai) {
			p.applyIfMissing(ai)
		}
	}
}

func afterOrEnd(w Where) bool { return w == WhereAfter || w == WhereEnd }

func sameToken(it *item, ai *argItem) bool {
	if !it.isTrailer {
		return false
	}
	n := min(tokenLen(it.token), tokenLen(ai.token))
	return equalFoldN(it.token, ai.token, n)
}

func sameTrailer(it *item, ai *argItem) bool {
	return sameToken(it, ai) && equalFold(it.value, ai.value)
}

func (p *processor) index(it *item) int {
	for i, x := range p.list {
		if x == it {
			return i
		}
	}
	return -1
}

// applyIfExists looks for a trailer with the same token, from the end for
// where=after|end and from the start otherwise, and applies ifExists to the
// first one found. It reports whether there was one.
func (p *processor) applyIfExists(ai *argItem) bool {
	if len(p.list) == 0 {
		return false
	}
	w := ai.conf.where
	middle := w == WhereAfter || w == WhereBefore
	back := afterOrEnd(w)
	start := p.list[0]
	if back {
		start = p.list[len(p.list)-1]
	}
	for k := range p.list {
		i := k
		if back {
			i = len(p.list) - 1 - k
		}
		in := p.list[i]
		if !sameToken(in, ai) {
			continue
		}
		on := start
		if middle {
			on = in
		}
		switch ai.conf.ifExists {
		case ExistsDoNothing:
		case ExistsReplace:
			p.runCommand(in, ai)
			p.insert(on, ai)
			p.list = append(p.list[:p.index(in)], p.list[p.index(in)+1:]...)
		case ExistsAdd:
			p.runCommand(in, ai)
			p.insert(on, ai)
		case ExistsAddIfDifferent:
			p.runCommand(in, ai)
			if p.different(in, ai, true) {
				p.insert(on, ai)
			}
		default: // ExistsAddIfDifferentNeighbor
			p.runCommand(in, ai)
			if p.different(on, ai, false) {
				p.insert(on, ai)
			}
		}
		return true
	}
	return false
}

// different reports whether ai differs from it and, when all is set, from
// every entry beyond it in the search direction.
func (p *processor) different(it *item, ai *argItem, all bool) bool {
	i := p.index(it)
	step := 1
	if afterOrEnd(ai.conf.where) {
		step = -1
	}
	for {
		if sameTrailer(p.list[i], ai) {
			return false
		}
		i += step
		if i < 0 || i >= len(p.list) || !all {
			return true
		}
	}
}

func (p *processor) insert(on *item, ai *argItem) {
	i := p.index(on)
	if afterOrEnd(ai.conf.where) {
		i++
	}
	p.list = append(p.list, nil)
	copy(p.list[i+1:], p.list[i:])
	p.list[i] = &item{isTrailer: true, token: ai.token, value: ai.value}
}

func (p *processor) applyIfMissing(ai *argItem) {
	if ai.conf.ifMissing == MissingDoNothing {
		return
	}
	p.runCommand(nil, ai)
	it := &item{isTrailer: true, token: ai.token, value: ai.value}
	if afterOrEnd(ai.conf.where) {
		p.list = append(p.list, it)
	} else {
		p.list = append([]*item{it}, p.list...)
	}
}

// runCommand replaces ai's value by the output of its trailer command, given
// ai's value or, when that is empty, the value of the existing trailer in.
func (p *processor) runCommand(in *item, ai *argItem) {
	c := &ai.conf
	if !c.hasCmd1 && !c.hasCmd2 {
		return
	}
	arg := ai.value
	if arg == "" && in != nil {
		arg = in.value
	}
	argv, shown := CommandArgv(c.hasCmd2, c.cmd, c.command, arg)
	var out []byte
	var err error = errNoRunner
	if p.run != nil {
		out, err = p.run(argv)
	}
	if err != nil {
		p.warn("error: running trailer command '" + shown + "' failed")
		ai.value = ""
		return
	}
	ai.value = trim(string(out))
}

type runnerError string

func (e runnerError) Error() string { return string(e) }

const errNoRunner = runnerError("trailers: no command runner")

// shellMeta are the characters that make git start a command through the
// shell rather than directly.
const shellMeta = "|&;<>()$`\\\"' \t\n*?[#~=%"

// CommandArgv returns the argv git executes for a trailer command, and the
// command text its error message shows. With useCmd, cmd (trailer.<t>.cmd)
// gets the value as "$1"; otherwise command (trailer.<t>.command) has its
// first "$ARG" replaced by the value.
func CommandArgv(useCmd bool, cmd, command, value string) (argv []string, shown string) {
	if useCmd {
		argv = []string{cmd, value}
		shown = cmd
	} else {
		shown = strings.Replace(command, "$ARG", value, 1)
		argv = []string{shown}
	}
	if strings.ContainsAny(argv[0], shellMeta) {
		script := argv[0]
		if len(argv) > 1 {
			script += ` "$@"`
		}
		argv = append([]string{ShellPath, "-c", script}, argv...)
	}
	return argv, shown
}

// Add returns msg with one trailer "key: value" added exactly as
// "git interpret-trailers --trailer 'key: value'" would with configuration
// cfg (nil for none).
func Add(msg []byte, cfg *Config, key, value string, run CommandRunner) ([]byte, error) {
	return Process(msg, Options{}, cfg, []Arg{{Text: key + ": " + value}}, run)
}

// Trailer is one entry of a trailer block.
type Trailer struct {
	// Raw is the entry as it stands in the message: the line and its
	// continuation lines, without the final newline.
	Raw string
	// Token is the token as written, trimmed; empty for a line of the
	// block that is not a trailer (only in Block.Lines).
	Token string
	// Key is the token git prints: Token, or the trailer.<name>.key of the
	// configured section it matches.
	Key string
	// Value is the trimmed value with continuation lines unfolded to single
	// spaces, as --parse prints it.
	Value string
	// Folded is the trimmed value with its continuation lines kept.
	Folded string
}

// Block is the trailer block of a message.
type Block struct {
	// Start and End are the byte offsets of the block in the message after
	// a missing final newline has been added; Start == End when there is no
	// block (new trailers would start a new paragraph there).
	Start, End int
	// BlankBefore says whether an empty line precedes the block.
	BlankBefore bool
	// Lines are the block's entries in order, comment lines left out.
	Lines []Trailer
}

// Trailers returns the entries of b that are trailers.
func (b Block) Trailers() []Trailer {
	var ts []Trailer
	for _, t := range b.Lines {
		if t.Token != "" || t.Key != "" {
			ts = append(ts, t)
		}
	}
	return ts
}

// Parse finds the trailer block of a commit message the way git log's
// %(trailers) does (no "---" divider), and returns its entries.
func Parse(msg []byte, cfg *Config) Block {
	return ParseWith(msg, cfg, Options{NoDivider: true})
}

// ParseWith is Parse with interpret-trailers' parsing options; only
// NoDivider changes what is found.
func ParseWith(msg []byte, cfg *Config, opts Options) Block {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	b := locate(msg, cfg, opts.NoDivider)
	out := Block{Start: b.start, End: b.end, BlankBefore: b.blankBefore}
	for _, it := range b.items(cfg, Options{Unfold: true}) {
		t := Trailer{Raw: it.raw}
		if it.isTrailer {
			t.Token, t.Key, t.Value, t.Folded = it.rawTok, it.token, it.value, it.folded
		}
		out.Lines = append(out.Lines, t)
	}
	return out
}
