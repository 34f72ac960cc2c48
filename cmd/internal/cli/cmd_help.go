package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
)

func init() {
	Register(func() *Command {
		var man bool
		var manDir string
		return &Command{
			Name:     "help",
			Synopsis: []string{"help [<command>]", "help --man [<command>]", "help --man-dir <dir>"},
			Short:    "show help for git rapido or one of its commands",
			Long: `With no command, lists the git rapido commands. With a command, prints
its manual page. --man writes the page as roff for man(1); "make install"
installs it so that "git help rapido" and "git rapido --help" work.`,
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVar(&man, "man", false, "write the manual page as roff")
				fs.StringVar(&manDir, "man-dir", "", "write git-rapido.1 and one git-rapido-<command>.1 page per command into `dir` (for \"git help rapido-<command>\")")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if manDir != "" {
					if len(args) > 0 || man {
						return Usagef("--man-dir takes no command and no --man")
					}
					return writeManDir(env, manDir)
				}
				if len(args) > 1 {
					return Usagef("too many arguments")
				}
				if len(args) == 0 {
					if man {
						writeMan(env.Stdout, nil)
						return nil
					}
					printOverview(env.Stdout, true)
					return nil
				}
				newCmd, ok := registry[args[0]]
				if !ok {
					return fmt.Errorf("help: no such command: %s", args[0])
				}
				c := newCmd()
				if man {
					writeMan(env.Stdout, c)
				} else {
					printHelp(env.Stdout, c)
				}
				return nil
			},
		}
	})
}

// writeManDir writes the whole manual: git-rapido(1) and a page per
// command (git-rapido-<command>.1), with the alias "git help
// rapido-<command>" looks up.
func writeManDir(env *Env, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("help: %w", err)
	}
	write := func(name string, c *Command) error {
		var b bytes.Buffer
		writeMan(&b, c)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("help: write %s: %w", p, err)
		}
		return nil
	}
	if err := write("git-rapido.1", nil); err != nil {
		return err
	}
	for _, c := range commands() {
		if c.Hidden {
			continue
		}
		page := "git-rapido-" + c.Name + ".1"
		if err := write(page, c); err != nil {
			return err
		}
		// "git help rapido-run" finds no git command of that name, so it
		// asks man for the guide "gitrapido-run": a .so link answers it.
		alias := filepath.Join(dir, "gitrapido-"+c.Name+".1")
		if err := os.WriteFile(alias, []byte(".so man1/"+page+"\n"), 0o644); err != nil {
			return fmt.Errorf("help: write %s: %w", alias, err)
		}
	}
	return nil
}

// writeMan writes a roff manual page: git-rapido(1) with every command when
// c is nil, else git-rapido-<name>(1).
func writeMan(w interface{ Write([]byte) (int, error) }, c *Command) {
	title := "GIT-RAPIDO"
	if c != nil {
		title += "-" + strings.ToUpper(c.Name)
	}
	fmt.Fprintf(w, ".TH %s 1 \"\" \"git-rapido %s\" \"Git Rapido Manual\"\n", title, Version())
	if c != nil {
		writeManSections(w, helpSections(c), 0)
		return
	}
	fmt.Fprintln(w, ".SH NAME")
	fmt.Fprintln(w, "git-rapido \\- build, boot and test kernel commits in QEMU; record verdicts as trailers")
	fmt.Fprintln(w, ".SH SYNOPSIS")
	fmt.Fprintln(w, ".B git rapido\n[\\-\\-version] [\\-\\-help] <command> [<args>]")
	fmt.Fprintln(w, ".SH DESCRIPTION")
	fmt.Fprintln(w, manEscape(overviewText))
	fmt.Fprintln(w, ".SH COMMANDS")
	for _, cmd := range commands() {
		if cmd.Hidden {
			continue
		}
		fmt.Fprintf(w, ".SS git rapido %s\n", manEscape(cmd.Name))
		writeManSections(w, helpSections(cmd)[1:], 1)
	}
}

func writeManSections(w interface{ Write([]byte) (int, error) }, secs []Section, depth int) {
	for _, s := range secs {
		if depth == 0 {
			fmt.Fprintf(w, ".SH %s\n", s.Title)
		} else {
			fmt.Fprintf(w, ".TP\n.B %s\n", s.Title)
		}
		fmt.Fprintln(w, ".nf")
		fmt.Fprintln(w, manEscape(s.Body))
		fmt.Fprintln(w, ".fi")
	}
}

func manEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
