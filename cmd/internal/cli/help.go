package cli

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

// version is set at link time by the Makefile (-X ...cli.version=...).
var version = ""

// Version is the git-rapido version: the linker-set one, else the module
// version or VCS revision recorded by the Go toolchain.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return "0.0.0-" + rev
		}
	}
	return "0.0.0-dev"
}

const overviewText = `git rapido builds each commit of a kernel patch series, cuts a minimal
initramfs test image, boots it in QEMU and reads a verdict. Passing commits get
Tested-by: trailers written exactly as git interpret-trailers would, verdicts are
cached by tree, and failing commits stop a rebase or steer a bisect.`

func printOverview(w io.Writer, full bool) {
	fmt.Fprintln(w, "usage: git rapido [--version] [--help] <command> [<args>]")
	fmt.Fprintln(w)
	if full {
		fmt.Fprintln(w, overviewText)
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "These are the git rapido commands:")
	fmt.Fprintln(w)
	width := 0
	cs := commands()
	for _, c := range cs {
		if !c.Hidden && len(c.Name) > width {
			width = len(c.Name)
		}
	}
	for _, c := range cs {
		if !c.Hidden {
			fmt.Fprintf(w, "   %-*s   %s\n", width, c.Name, c.Short)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "See 'git rapido help <command>' or 'git rapido <command> -h' to read about a command.")
}

// printUsage prints the synopsis and option list, as git does after a usage
// error.
func printUsage(w io.Writer, c *Command) {
	for i, s := range c.Synopsis {
		lead := "usage: "
		if i > 0 {
			lead = "   or: "
		}
		fmt.Fprintf(w, "%sgit rapido %s\n", lead, s)
	}
	if len(c.Synopsis) == 0 {
		fmt.Fprintf(w, "usage: git rapido %s\n", c.Name)
	}
	if opts := optionLines(c); len(opts) > 0 {
		fmt.Fprintln(w)
		for _, o := range opts {
			fmt.Fprintf(w, "    %-26s %s\n", o.spec, firstLine(o.usage))
		}
	}
	fmt.Fprintln(w)
}

// printHelp prints the whole manual page of c as plain text.
func printHelp(w io.Writer, c *Command) {
	for _, s := range helpSections(c) {
		fmt.Fprintln(w, s.Title)
		for _, l := range strings.Split(s.Body, "\n") {
			if l == "" {
				fmt.Fprintln(w)
			} else {
				fmt.Fprintf(w, "       %s\n", l)
			}
		}
		fmt.Fprintln(w)
	}
}

// helpSections lays out c's manual page: NAME, SYNOPSIS, DESCRIPTION,
// OPTIONS, then the command's own sections. The man page and -h share it.
func helpSections(c *Command) []Section {
	var syn []string
	for _, s := range c.Synopsis {
		syn = append(syn, "git rapido "+s)
	}
	if len(syn) == 0 {
		syn = []string{"git rapido " + c.Name}
	}
	secs := []Section{
		{"NAME", "git-rapido-" + strings.ReplaceAll(c.Name, " ", "-") + " - " + c.Short},
		{"SYNOPSIS", strings.Join(syn, "\n")},
	}
	if c.Long != "" {
		secs = append(secs, Section{"DESCRIPTION", strings.TrimSpace(c.Long)})
	}
	if opts := optionLines(c); len(opts) > 0 {
		var b strings.Builder
		for i, o := range opts {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(o.spec + "\n")
			for _, l := range strings.Split(o.usage, "\n") {
				b.WriteString("    " + l + "\n")
			}
		}
		secs = append(secs, Section{"OPTIONS", strings.TrimRight(b.String(), "\n")})
	}
	for _, s := range c.Sections {
		s.Body = strings.TrimSpace(s.Body)
		secs = append(secs, s)
	}
	return secs
}

type optionLine struct{ spec, usage string }

// optionLines renders c's flags git-style: "-n, --dry-run" and
// "--cut <name>", where the argument name comes from a `backquoted` word in
// the flag's usage string (pflag's convention).
func optionLines(c *Command) []optionLine {
	if c.Flags == nil {
		return nil
	}
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SortFlags = false
	c.Flags(fs)
	var out []optionLine
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		spec := "--" + f.Name
		if f.Shorthand != "" {
			spec = "-" + f.Shorthand + ", " + spec
		}
		if f.Value.Type() != "bool" {
			if name == "" || name == "value" {
				name = f.Value.Type()
			}
			spec += " <" + name + ">"
		} else if f.NoOptDefVal == "true" && strings.HasPrefix(usage, "[no-]") {
			usage = strings.TrimPrefix(usage, "[no-]")
			spec = strings.Replace(spec, "--", "--[no-]", 1)
		}
		out = append(out, optionLine{spec, usage})
	})
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// keyNote is a flag's pointer to the key it overrides, with the key's
// default from the one table (vmrun.Keys): "(rapido.memory, default 512M)".
func keyNote(name string) string {
	if d := keyDefault(name); d != "" {
		return "(" + name + ", default " + d + ")"
	}
	return "(" + name + ")"
}

// keyDefault is a key's default as the table shows it.
func keyDefault(name string) string {
	k, ok := vmrun.LookupKey(name)
	if !ok {
		panic("cli: unknown configuration key " + name)
	}
	return k.ShownDefault()
}

// keyLines is a CONFIGURATION section listing the named keys with their
// documentation and defaults, from vmrun.Keys.
func keyLines(names ...string) string {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	var b strings.Builder
	for _, n := range names {
		k, ok := vmrun.LookupKey(n)
		if !ok {
			panic("cli: unknown configuration key " + n)
		}
		fmt.Fprintf(&b, "%-*s  %s", width, k.Name, k.Doc)
		if d := k.ShownDefault(); d != "" {
			fmt.Fprintf(&b, " (default: %s)", d)
		}
		if k.Multi {
			b.WriteString(" (multi-valued)")
		}
		if k.Env != "" {
			fmt.Fprintf(&b, "; %s overrides it", k.Env)
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
