package rebase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// RewriteOptions describe a rewrite of the messages of a linear range that
// ends at HEAD, as "git rebase -i" with "reword" would do it, but without a
// worktree: trees never change, so nothing is checked out.
type RewriteOptions struct {
	Dir string
	// Commits are the full ids of the range, oldest first; each one's
	// first parent is the one before it, and the last is HEAD.
	Commits []string
	// Messages holds the new message of each commit that changes.
	Messages map[string][]byte
	Reflog   string // e.g. "rapido trailers collect: 3 trailers"
}

// RewriteMessages writes the rewritten commits — authors kept, committers
// refreshed, re-signed when commit.gpgSign says so, as git rebase does —
// and moves HEAD (and its branch) from the old tip to the new one with a
// compare-and-swap. Nothing is moved when a step fails: the objects
// written so far are unreachable and git gc drops them. It returns the map
// of old to new ids (empty when no message changes).
func RewriteMessages(ctx context.Context, g Git, o RewriteOptions) (map[string]string, error) {
	if len(o.Commits) == 0 {
		return nil, errors.New("rewrite: no commit")
	}
	head, err := g.Git(ctx, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return nil, fmt.Errorf("rewrite: read HEAD: %w", err)
	}
	tip := o.Commits[len(o.Commits)-1]
	if head != tip {
		return nil, fmt.Errorf("rewrite: the range ends at %.12s, not at HEAD (%.12s)", tip, head)
	}
	ident := ""
	mapped := map[string]string{}
	for _, c := range o.Commits {
		raw, err := readCommitObject(ctx, g, o.Dir, c)
		if err != nil {
			return nil, err
		}
		header, msg, _ := bytes.Cut(raw, []byte("\n\n"))
		if m, ok := o.Messages[c]; ok {
			msg = m
		}
		newParents := replaceParents(header, mapped)
		if !bytes.Equal(newParents, header) || !bytes.Equal(msg, rawMessage(raw)) {
			if ident == "" {
				if ident, err = committerIdent(ctx, g); err != nil {
					return nil, err
				}
			}
			id, err := writeObject(ctx, g, append(newParents, "\n\n"...), msg, ident)
			if err != nil {
				return nil, err
			}
			mapped[c] = id
		}
	}
	newTip, ok := mapped[tip]
	if !ok {
		return mapped, nil
	}
	reflog := o.Reflog
	if reflog == "" {
		reflog = "rapido: rewrite messages"
	}
	if _, err := g.Git(ctx, "update-ref", "-m", reflog, "HEAD", newTip, tip); err != nil {
		return nil, fmt.Errorf("rewrite %.12s: %w: %v", tip, ErrMoved, err)
	}
	// As after git rebase: post-rewrite learns every old and new id (the
	// hook git rapido installs warns about verdicts made stale).
	if hooks, err := hooksDir(ctx, g, o.Dir); err == nil {
		var lines strings.Builder
		for _, c := range o.Commits {
			if n, ok := mapped[c]; ok {
				lines.WriteString(c + " " + n + "\n")
			}
		}
		runHook(ctx, g, o.Dir, hooks, "post-rewrite", []byte(lines.String()), "rebase")
	}
	return mapped, nil
}

func rawMessage(raw []byte) []byte {
	_, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	return msg
}

// replaceParents returns the header with each "parent" line that names a
// rewritten commit pointing at its new id.
func replaceParents(header []byte, mapped map[string]string) []byte {
	lines := strings.Split(string(header), "\n")
	changed := false
	for i, l := range lines {
		if id, ok := strings.CutPrefix(l, "parent "); ok {
			if n, ok := mapped[id]; ok {
				lines[i] = "parent " + n
				changed = true
			}
		}
	}
	if !changed {
		return header
	}
	return []byte(strings.Join(lines, "\n"))
}

// writeObject writes a commit from a raw object's header (ending in the
// blank line) and msg: committer refreshed, old signature dropped, signed
// anew if asked.
func writeObject(ctx context.Context, g Git, raw, msg []byte, ident string) (string, error) {
	header := rewriteHeader(raw, ident)
	body := append(append(append([]byte(nil), header...), '\n'), msg...)
	sig, err := signPayload(ctx, g, ident, body)
	if err != nil {
		return "", err
	}
	if sig != nil {
		name, err := signatureHeader(ctx, g)
		if err != nil {
			return "", err
		}
		signed := append(append([]byte(nil), header...), foldHeader(name, sig)...)
		body = append(append(signed, '\n'), msg...)
	}
	out, err := g.GitInput(ctx, body, "hash-object", "-t", "commit", "-w", "--stdin")
	if err != nil {
		return "", fmt.Errorf("rewrite: write commit: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
