package trailers

import (
	"fmt"
	"strings"
)

// Invocation is a parsed "git interpret-trailers" command line.
type Invocation struct {
	Options Options
	Args    []Arg
	Files   []string
	InPlace bool
	// Help is set for --help: the caller shows its manual page.
	Help bool
}

// ArgError is a command line git refuses: Stdout and Stderr are exactly what
// git prints (its usage goes to stdout for -h and ambiguous options), and
// Code is the exit status (129).
type ArgError struct {
	Stdout, Stderr string
	Code           int
}

func (e *ArgError) Error() string {
	if s := strings.TrimSpace(e.Stderr); s != "" {
		return strings.SplitN(s, "\n", 2)[0]
	}
	return fmt.Sprintf("usage error (exit %d)", e.Code)
}

type optKind int

const (
	optBool optKind = iota
	optValue
	optNoArgNoNeg
)

type optDef struct {
	name string
	kind optKind
	help string
	argh string
}

// interpret-trailers' options in git's order; the order decides which
// abbreviation wins and how ambiguity is reported.
var optDefs = []optDef{
	{"in-place", optBool, "edit files in place", ""},
	{"trim-empty", optBool, "trim empty trailers", ""},
	{"where", optValue, "where to place the new trailer", "action"},
	{"if-exists", optValue, "action if trailer already exists", "action"},
	{"if-missing", optValue, "action if trailer is missing", "action"},
	{"only-trailers", optBool, "output only the trailers", ""},
	{"only-input", optBool, "do not apply config rules", ""},
	{"unfold", optBool, "join whitespace-continued values", ""},
	{"parse", optNoArgNoNeg, "set parsing options", ""},
	{"no-divider", optBool, "do not treat --- specially", ""},
	{"trailer", optValue, "trailer(s) to add", "trailer"},
}

// Usage returns interpret-trailers' usage text as git prints it, with prog
// ("git interpret-trailers") as the command name.
func Usage(prog string) string {
	var b strings.Builder
	head := "usage: " + prog + " "
	pad := strings.Repeat(" ", len(head))
	b.WriteString(head + "[--in-place] [--trim-empty]\n")
	b.WriteString(pad + "[(--trailer <token>[(=|:)<value>])...]\n")
	b.WriteString(pad + "[--parse] [<file>...]\n\n")
	for _, o := range optDefs {
		left := "    --" + o.name
		if o.argh != "" {
			left += " <" + o.argh + ">"
		}
		if len(left) > 24 {
			b.WriteString(left + "\n" + strings.Repeat(" ", 26) + o.help + "\n")
		} else {
			b.WriteString(left + strings.Repeat(" ", 26-len(left)) + o.help + "\n")
		}
	}
	b.WriteString("\n")
	return b.String()
}

type argParser struct {
	prog string
	inv  Invocation
	// state of --where/--if-exists/--if-missing for the following --trailer
	where     Where
	ifExists  IfExists
	ifMissing IfMissing
}

// ParseArgs parses argv (without the program name) as git's parse-options
// does for interpret-trailers: abbreviated long options, "--opt=value" and
// "--opt value", "--no-" forms, options after operands, "--" and
// "--end-of-options". prog names the command in the usage text.
func ParseArgs(prog string, argv []string) (*Invocation, *ArgError) {
	p := &argParser{prog: prog}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--" || a == "--end-of-options":
			p.inv.Files = append(p.inv.Files, argv[i+1:]...)
			i = len(argv)
		case a == "--help":
			p.inv.Help = true
			return &p.inv, nil
		case a == "--help-all":
			return nil, &ArgError{Stdout: Usage(prog), Code: 129}
		case strings.HasPrefix(a, "--"):
			n, err := p.long(a[2:], argv[i+1:])
			if err != nil {
				return nil, err
			}
			i += n
		case len(a) > 1 && a[0] == '-':
			if a[1] == 'h' {
				return nil, &ArgError{Stdout: Usage(prog), Code: 129}
			}
			return nil, &ArgError{Stderr: fmt.Sprintf("error: unknown switch `%c'\n", a[1]) + Usage(prog), Code: 129}
		default:
			p.inv.Files = append(p.inv.Files, a)
		}
	}
	if p.inv.Options.OnlyInput && len(p.inv.Args) > 0 {
		return nil, &ArgError{Stderr: "fatal: --trailer with --only-input does not make sense\n\n" + Usage(prog), Code: 129}
	}
	return &p.inv, nil
}

// long parses one long option (without "--"); rest are the arguments after
// it. It returns how many of them it consumed.
func (p *argParser) long(arg string, rest []string) (int, *ArgError) {
	argEnd := strings.IndexByte(arg, '=')
	if argEnd < 0 {
		argEnd = len(arg)
	}
	var abbrev, ambiguous *optDef
	var abbrevUnset, ambiguousUnset bool
	var shared *string // git's single p->opt, set by abbreviations with "="
	for k := range optDefs {
		o := &optDefs[k]
		longName := o.name
		unset, optUnset := false, false
		for {
			r, exact := strings.CutPrefix(arg, longName)
			isAbbrev := false
			if !exact {
				switch {
				case strings.HasPrefix(longName, arg[:argEnd]):
					isAbbrev = true
				case o.kind == optNoArgNoNeg:
				case strings.HasPrefix("no-", arg):
					unset, isAbbrev = true, true
				case !strings.HasPrefix(arg, "no-"):
					if ln, ok := strings.CutPrefix(longName, "no-"); ok {
						longName, optUnset = ln, true
						continue
					}
				default:
					unset = true
					if r2, ok := strings.CutPrefix(arg[3:], longName); ok {
						r, exact = r2, true
					} else if strings.HasPrefix(longName, arg[3:]) {
						isAbbrev = true
					}
				}
			}
			if isAbbrev {
				if abbrev != nil {
					ambiguous, ambiguousUnset = abbrev, abbrevUnset
				}
				if !unset && argEnd < len(arg) {
					v := arg[argEnd+1:]
					shared = &v
				}
				abbrev, abbrevUnset = o, unset != optUnset
			}
			if exact {
				var val *string
				if r != "" {
					if r[0] != '=' {
						break
					}
					v := r[1:]
					val = &v
				}
				return p.value(o, unset != optUnset, val, rest)
			}
			break
		}
	}
	if ambiguous != nil {
		no := func(u bool) string {
			if u {
				return "no-"
			}
			return ""
		}
		return 0, &ArgError{
			Stderr: fmt.Sprintf("error: ambiguous option: %s (could be --%s%s or --%s%s)\n",
				arg, no(ambiguousUnset), ambiguous.name, no(abbrevUnset), abbrev.name),
			Stdout: Usage(p.prog), Code: 129,
		}
	}
	if abbrev != nil {
		return p.value(abbrev, abbrevUnset, shared, rest)
	}
	return 0, &ArgError{Stderr: fmt.Sprintf("error: unknown option `%s'\n", arg) + Usage(p.prog), Code: 129}
}

// value applies option o, like parse-options' get_value.
func (p *argParser) value(o *optDef, unset bool, val *string, rest []string) (int, *ArgError) {
	name := o.name
	if unset {
		name = "no-" + name
	}
	fail := func(format string) (int, *ArgError) {
		return 0, &ArgError{Stderr: fmt.Sprintf("error: option `%s' "+format+"\n", name), Code: 129}
	}
	if unset && val != nil {
		return fail("takes no value")
	}
	if o.kind != optValue && val != nil {
		return fail("takes no value")
	}
	opts := &p.inv.Options
	switch o.name {
	case "in-place":
		p.inv.InPlace = !unset
	case "trim-empty":
		opts.TrimEmpty = !unset
	case "only-trailers":
		opts.OnlyTrailers = !unset
	case "only-input":
		opts.OnlyInput = !unset
	case "unfold":
		opts.Unfold = !unset
	case "no-divider":
		opts.NoDivider = !unset
	case "parse":
		opts.OnlyTrailers, opts.OnlyInput, opts.Unfold = true, true, true
	}
	if o.kind != optValue {
		return 0, nil
	}
	used := 0
	var v string
	if !unset {
		switch {
		case val != nil:
			v = *val
		case len(rest) > 0:
			v, used = rest[0], 1
		default:
			return fail("requires a value")
		}
	}
	// A callback that refuses its value makes git exit 129 without a word.
	silent := &ArgError{Code: 129}
	switch o.name {
	case "where":
		p.where = WhereDefault
		if !unset {
			w, ok := ParseWhere(v)
			if !ok {
				return 0, silent
			}
			p.where = w
		}
	case "if-exists":
		p.ifExists = ExistsDefault
		if !unset {
			x, ok := ParseIfExists(v)
			if !ok {
				return 0, silent
			}
			p.ifExists = x
		}
	case "if-missing":
		p.ifMissing = MissingDefault
		if !unset {
			x, ok := ParseIfMissing(v)
			if !ok {
				return 0, silent
			}
			p.ifMissing = x
		}
	case "trailer":
		if unset {
			p.inv.Args = nil
		} else {
			p.inv.Args = append(p.inv.Args, Arg{Text: v, Where: p.where, IfExists: p.ifExists, IfMissing: p.ifMissing})
		}
	}
	return used, nil
}
