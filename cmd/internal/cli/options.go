package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// expandOptions rewrites args so that pflag accepts what git's
// parse-options accepts on top of exact long names:
//
//   - a unique prefix of a long option ("--dry" for "--dry-run"), an exact
//     name always winning over a longer one it prefixes;
//   - "--no-<option>" for a boolean option that has no "--no-" twin of its
//     own, meaning "--<option>=false" (and its unique prefixes, "--no-tr");
//
// An ambiguous prefix is an error naming the candidates, as git says it.
// Arguments after "--", and the values of options that take one, are left
// alone, so "--script --dry" keeps "--dry" as the script's name.
func expandOptions(fs *pflag.FlagSet, args []string) ([]string, error) {
	var longs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			longs = append(longs, f.Name)
		}
	})
	sort.Strings(longs)
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "--") {
			out = append(out, a)
			if takesValue(fs, shortName(a)) {
				// "-j 4": the next argument is the value.
				if i+1 < len(args) {
					out = append(out, args[i+1])
					i++
				}
			}
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		full, negated, err := resolveLong(fs, longs, name)
		if err != nil {
			return nil, err
		}
		if full == "" {
			// Unknown: leave it for pflag to refuse with its own words.
			out = append(out, a)
			continue
		}
		switch {
		case negated && hasValue:
			return nil, fmt.Errorf("option `no-%s' takes no value", full)
		case negated:
			out = append(out, "--"+full+"=false")
		case hasValue:
			out = append(out, "--"+full+"="+value)
		default:
			out = append(out, "--"+full)
			if takesValue(fs, full) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
		}
	}
	return out, nil
}

// resolveLong maps a typed long option name to a flag name. negated is true
// for "--no-<bool>" forms the command does not define itself.
func resolveLong(fs *pflag.FlagSet, longs []string, typed string) (full string, negated bool, err error) {
	if typed == "" {
		return "", false, nil
	}
	if fs.Lookup(typed) != nil {
		return typed, false, nil
	}
	if rest, ok := strings.CutPrefix(typed, "no-"); ok {
		if f := fs.Lookup(rest); f != nil && isBool(f) {
			return rest, true, nil
		}
	}
	// Candidates: prefixes of real names, and of "no-<bool>" names.
	type cand struct {
		name    string
		negated bool
	}
	var cands []cand
	for _, n := range longs {
		if strings.HasPrefix(n, typed) {
			cands = append(cands, cand{n, false})
		}
	}
	if rest, ok := strings.CutPrefix(typed, "no-"); ok {
		for _, n := range longs {
			if f := fs.Lookup(n); isBool(f) && strings.HasPrefix(n, rest) && fs.Lookup("no-"+n) == nil {
				cands = append(cands, cand{n, true})
			}
		}
	}
	switch len(cands) {
	case 0:
		return "", false, nil
	case 1:
		return cands[0].name, cands[0].negated, nil
	}
	var names []string
	for _, c := range cands {
		if c.negated {
			names = append(names, "--no-"+c.name)
		} else {
			names = append(names, "--"+c.name)
		}
	}
	return "", false, fmt.Errorf("ambiguous option: %s (could be %s)", typed, strings.Join(names, " or "))
}

func isBool(f *pflag.Flag) bool { return f != nil && f.Value.Type() == "bool" }

// shortName returns the option letter of a lone "-x", or "".
func shortName(a string) string {
	if len(a) != 2 || a[0] != '-' || a[1] == '-' {
		return ""
	}
	return a[1:]
}

// takesValue reports whether the option named (long name or one letter)
// consumes the next argument when given without "=".
func takesValue(fs *pflag.FlagSet, name string) bool {
	if name == "" {
		return false
	}
	f := fs.Lookup(name)
	if f == nil && len(name) == 1 {
		f = fs.ShorthandLookup(name)
	}
	return f != nil && f.NoOptDefVal == ""
}
