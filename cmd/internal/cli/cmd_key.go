package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/trailers/attest"
)

type keyOptions struct {
	name, email, output string
	noPassphrase        bool
	key                 string
}

func init() {
	Register(func() *Command {
		o := &keyOptions{}
		return &Command{
			Name: "key",
			Synopsis: []string{"key generate [--name <name>] [--email <email>] [-o <file>] [--no-passphrase]",
				"key export [--key <file>] [-o <file>]"},
			Short: "make or export the OpenPGP key that signs verdicts",
			Long: `"generate" makes an Ed25519 OpenPGP key for signing verdicts and writes the
armored secret key to <file> (default: $XDG_CONFIG_HOME/git-rapido/signing-key.asc,
mode 0600; an existing file is never overwritten). The passphrase is read
from RAPIDO_PASSPHRASE, or asked twice on the terminal; --no-passphrase
leaves the key unprotected. Then point rapido.signingKey at it:

    git rapido key generate
    git config --global rapido.signingKey ~/.config/git-rapido/signing-key.asc

"export" writes the public key of rapido.signingKey (or --key) armored, for
the maintainers' rapido.trustedKeys or a .rapido/keys/<you>.asc file on the
keyring ref. GnuPG imports it as is.`,
			Sections: []Section{{"CONFIGURATION", keyLines("rapido.signingKey") + " (~ expanded)"},
				{"ENVIRONMENT", `RAPIDO_PASSPHRASE   passphrase of the signing key, for scripts and CI`}},
			Flags: func(fs *pflag.FlagSet) {
				fs.StringVar(&o.name, "name", "", "user id name (default: user.name)")
				fs.StringVar(&o.email, "email", "", "user id email (default: user.email)")
				fs.StringVarP(&o.output, "output", "o", "", "write to `file` (\"-\" for standard output)")
				fs.BoolVar(&o.noPassphrase, "no-passphrase", false, "do not protect the secret key")
				fs.StringVar(&o.key, "key", "", "export the public part of this secret key `file`")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if len(args) != 1 {
					return Usagef("want: git rapido key generate|export")
				}
				switch args[0] {
				case "generate":
					return runKeyGenerate(ctx, env, o)
				case "export":
					return runKeyExport(ctx, env, o)
				}
				return Usagef("unknown key subcommand %q", args[0])
			},
		}
	})
}

func runKeyGenerate(ctx context.Context, env *Env, o *keyOptions) error {
	cfg, err := env.Config(ctx)
	if err != nil {
		return err
	}
	nameFrom, emailFrom := "--name", "--email"
	if o.name == "" {
		o.name, _ = cfg.Get("user.name")
		nameFrom = "user.name"
	}
	if o.email == "" {
		o.email, _ = cfg.Get("user.email")
		emailFrom = "user.email"
	}
	if o.name == "" || o.email == "" {
		return Usagef("--name and --email are needed (user.name or user.email is not set)")
	}
	for _, f := range []struct{ opt, v string }{{nameFrom, o.name}, {emailFrom, o.email}} {
		if err := checkUserIDPart(f.v); err != nil {
			return Usagef("%s %q: %v", f.opt, f.v, err)
		}
	}
	var pw []byte
	switch {
	case o.noPassphrase:
	case env.Getenv("RAPIDO_PASSPHRASE") != "":
		pw = []byte(env.Getenv("RAPIDO_PASSPHRASE"))
	default:
		if pw, err = newPassphrase(); err != nil {
			return err
		}
	}
	out := o.output
	if out == "" {
		dir := env.Getenv("XDG_CONFIG_HOME")
		if dir == "" {
			dir = filepath.Join(env.Getenv("HOME"), ".config")
		}
		out = filepath.Join(dir, "git-rapido", "signing-key.asc")
	}
	var b bytes.Buffer
	s, err := attest.GenerateKey(&b, o.name, o.email, pw, time.Now())
	if err != nil {
		return err
	}
	if out == "-" {
		_, err := env.Stdout.Write(b.Bytes())
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return fmt.Errorf("key generate: %w", err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("key generate: %w", err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		os.Remove(out)
		return fmt.Errorf("key generate: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(out)
		return fmt.Errorf("key generate: %w", err)
	}
	fmt.Fprintf(env.Stderr, "rapido: wrote Ed25519 key %s for %s to %s\n", s.Fingerprint(), s.Identity(), out)
	fmt.Fprintf(env.Stderr, "hint: git config --global rapido.signingKey %s\n", out)
	return nil
}

func newPassphrase() ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, &HintError{Err: errors.New("key generate: no terminal to ask for a passphrase"),
			Hint: "set RAPIDO_PASSPHRASE, or use --no-passphrase"}
	}
	defer tty.Close()
	fmt.Fprint(tty, "Passphrase for the new key (empty for none): ")
	a, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	fmt.Fprint(tty, "Again: ")
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if !bytes.Equal(a, b) {
		return nil, errors.New("key generate: the passphrases differ")
	}
	return a, nil
}

func runKeyExport(ctx context.Context, env *Env, o *keyOptions) error {
	path := o.key
	if path == "" {
		cfg, err := env.Config(ctx)
		if err != nil {
			return err
		}
		path, _ = cfg.Get("rapido.signingKey")
		if strings.TrimSpace(path) == "" {
			return &HintError{Err: errors.New("key export: rapido.signingKey is not set"),
				Hint: "git rapido key generate, then git config rapido.signingKey <file>"}
		}
	}
	path = expandPath(env, path)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("key export: %w", err)
	}
	defer f.Close()
	var b bytes.Buffer
	if err := attest.ExportPublic(&b, f); err != nil {
		return fmt.Errorf("key export: %s: %w", path, err)
	}
	if o.output == "" || o.output == "-" {
		_, err = env.Stdout.Write(b.Bytes())
		return err
	}
	if err := os.WriteFile(o.output, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("key export: %w", err)
	}
	return nil
}

// checkUserIDPart refuses what would break the key's one-line user id
// "Name <email>": control characters (a newline forges a second line
// wherever the id is printed) and the angle brackets that delimit the email.
func checkUserIDPart(v string) error {
	if termsafe.HasControl(v) {
		return errors.New("contains a control character; give it on one line")
	}
	if strings.ContainsAny(v, "<>") {
		return errors.New("contains < or >; give the name and the email separately")
	}
	return nil
}
