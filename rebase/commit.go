package rebase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The commit object is written with git's own plumbing (var, hash-object),
// never a library's: whatever repository git can read — SHA-256,
// extensions.worktreeConfig, partial clones, linked worktrees — the amend
// can write to. The old commit is read by go-git where it supports the
// repository, by git cat-file elsewhere (readCommitObject).

// writeCommit writes the amended commit: the old commit's headers (tree,
// parents, author, encoding, mergetag and any other) kept, the committer
// refreshed, the old signature dropped and a new one made when
// commit.gpgSign is set, then msg. It returns the new commit's id.
func writeCommit(ctx context.Context, g Git, dir, oldID string, msg []byte) (string, error) {
	body, err := commitBody(ctx, g, dir, oldID, msg)
	if err != nil {
		return "", err
	}
	out, err := g.GitInput(ctx, body, "hash-object", "-t", "commit", "-w", "--stdin")
	if err != nil {
		return "", fmt.Errorf("amend: write commit: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// commitBody is the text of the amended commit object, signed if asked.
func commitBody(ctx context.Context, g Git, dir, oldID string, msg []byte) ([]byte, error) {
	raw, err := readCommitObject(ctx, g, dir, oldID)
	if err != nil {
		return nil, err
	}
	ident, err := committerIdent(ctx, g)
	if err != nil {
		return nil, err
	}
	header := rewriteHeader(raw, ident)
	unsigned := append(append(append([]byte(nil), header...), '\n'), msg...)
	sig, err := signPayload(ctx, g, ident, unsigned)
	if err != nil || sig == nil {
		return unsigned, err
	}
	name, err := signatureHeader(ctx, g)
	if err != nil {
		return nil, err
	}
	signed := append(append([]byte(nil), header...), foldHeader(name, sig)...)
	return append(append(signed, '\n'), msg...), nil
}

// rewriteHeader returns the header lines of the raw commit (each ending in
// a newline) with the committer replaced and gpgsig/gpgsig-sha256 fields
// (with their continuation lines) dropped; every other field is kept as it
// was, as git commit --amend keeps mergetag and unknown headers.
func rewriteHeader(raw []byte, ident string) []byte {
	header, _, _ := bytes.Cut(raw, []byte("\n\n"))
	var out bytes.Buffer
	drop := false
	for _, line := range strings.Split(string(header), "\n") {
		if strings.HasPrefix(line, " ") {
			if !drop {
				out.WriteString(line + "\n")
			}
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		drop = name == "gpgsig" || name == "gpgsig-sha256"
		switch {
		case drop:
		case name == "committer":
			out.WriteString("committer " + ident + "\n")
		default:
			out.WriteString(line + "\n")
		}
	}
	return out.Bytes()
}

// foldHeader is a multi-line header field: continuation lines start with
// a space.
func foldHeader(name string, value []byte) []byte {
	v := strings.TrimRight(string(value), "\n")
	return []byte(name + " " + strings.ReplaceAll(v, "\n", "\n ") + "\n")
}

// signatureHeader names the field that carries a signature over this
// repository's object format: gpgsig for SHA-1, gpgsig-sha256 for SHA-256.
func signatureHeader(ctx context.Context, g Git) (string, error) {
	format, err := g.Git(ctx, "rev-parse", "--show-object-format")
	if err != nil {
		return "", fmt.Errorf("amend: object format: %w", err)
	}
	if format == "sha1" {
		return "gpgsig", nil
	}
	return "gpgsig-" + format, nil
}

var identRe = regexp.MustCompile(`^(.*) <([^<>\n]*)> (\d+) ([+-]\d{4})$`)

// committerIdent is "Name <email> <seconds> <zone>" as git would record it
// now (GIT_COMMITTER_* over user.*).
func committerIdent(ctx context.Context, g Git) (string, error) {
	ident, err := g.Git(ctx, "var", "GIT_COMMITTER_IDENT")
	if err != nil {
		return "", &Refusal{Err: fmt.Errorf("amend: committer identity: %w", err),
			Hint: "git config user.name 'Your Name'; git config user.email you@example.org"}
	}
	if !identRe.MatchString(ident) {
		return "", fmt.Errorf("amend: bad committer identity %q", ident)
	}
	return ident, nil
}

// signPayload signs payload with gpg when commit.gpgSign is set, the way
// git does: gpg.program (default gpg) --status-fd=2 -bsau <user.signingKey
// or the committer's "Name <email>">. It returns nil when signing is off.
func signPayload(ctx context.Context, g Git, ident string, payload []byte) ([]byte, error) {
	program, key, err := signer(ctx, g, ident)
	if err != nil || program == "" {
		return nil, err
	}
	cmd := g.Command(ctx, program, "--status-fd=2", "-bsau", key)
	cmd.Stdin = bytes.NewReader(payload)
	var sig, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sig, &stderr
	if err := g.Run(cmd); err != nil {
		return nil, &Refusal{Err: fmt.Errorf("amend: sign with %s as %q: %s", program, key, gpgReason(stderr.String(), err)),
			Hint: "make the key in user.signingKey usable (gpg --list-secret-keys), or set commit.gpgSign=false"}
	}
	if !bytes.Contains(sig.Bytes(), []byte("-----BEGIN PGP SIGNATURE-----")) {
		return nil, fmt.Errorf("amend: sign with %s: no signature produced", program)
	}
	return sig.Bytes(), nil
}

// gpgReason is gpg's last word on a failure ("gpg: signing failed: No
// secret key"), not its whole chatter and status lines.
func gpgReason(stderr string, err error) string {
	reason := ""
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "gpg: ") {
			reason = strings.TrimPrefix(l, "gpg: ")
		}
	}
	if reason == "" {
		reason, _, _ = strings.Cut(err.Error(), "\n")
	}
	return reason
}

// signer returns the program and key commit.gpgSign asks for, or "" when
// commits are not signed.
func signer(ctx context.Context, g Git, ident string) (program, key string, err error) {
	if on, _ := g.Git(ctx, "config", "--type=bool", "commit.gpgSign"); on != "true" {
		return "", "", nil
	}
	if f, _ := g.Git(ctx, "config", "gpg.format"); f != "" && f != "openpgp" {
		return "", "", &Refusal{Err: fmt.Errorf("amend: commit.gpgSign with gpg.format=%s is not supported", f),
			Hint: "sign with gpg.format=openpgp, or set commit.gpgSign=false"}
	}
	if program, _ = g.Git(ctx, "config", "gpg.program"); program == "" {
		program = "gpg"
	}
	if key, _ = g.Git(ctx, "config", "user.signingKey"); key == "" {
		m := identRe.FindStringSubmatch(ident)
		if m == nil {
			return "", "", errors.New("amend: no signing key")
		}
		key = m[1] + " <" + m[2] + ">"
	}
	return program, key, nil
}

// Refusal is a reason the amend cannot happen, with what to do about it.
type Refusal struct {
	Err  error
	Hint string
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }
