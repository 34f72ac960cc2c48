package cli

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/git-rapido/git-rapido/trailers/attest"
	"github.com/git-rapido/git-rapido/vmrun"
)

// Attestations kept in git notes (rapido.attest=notes): the message gets
// only the plain verdict trailer, and the attestation goes to a note on the
// commit's patch-id in attest.NotesRef (see trailers/attest/notes.go).

// attestMode reads rapido.attest: "trailer" (the default) or "notes".
func attestMode(ctx context.Context, env *Env) (string, error) {
	return configChoice(ctx, env, "rapido.attest")
}

// configChoice reads a key of vmrun.Keys whose value is one of its
// Choices, checked by the key table's one check; unset is its Default.
func configChoice(ctx context.Context, env *Env, name string) (string, error) {
	cfg, err := env.Config(ctx)
	if err != nil {
		return "", err
	}
	k, _ := vmrun.LookupKey(name)
	v, _ := cfg.Get(name)
	if v = strings.TrimSpace(v); v == "" {
		return k.Default, nil
	}
	if err := k.Check(v); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// writeAttestNote adds e to the note on patch-id pid, once.
func writeAttestNote(ctx context.Context, env *Env, pid string, e attest.NoteEntry) error {
	notes, err := readAttestNotes(ctx, env, []string{pid})
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, old := range notes[pid] {
		if old == e {
			return nil
		}
		b.WriteString(old.Line() + "\n")
	}
	b.WriteString(e.Line() + "\n")
	if _, err := env.Runner.GitInput(ctx, []byte(b.String()), "notes", "--ref="+attest.NotesRef,
		"add", "-f", "-F", "-", pid); err != nil {
		return fmt.Errorf("write attestation note: patch-id %.12s: %w", pid, err)
	}
	return nil
}

// readAttestNotes returns the note entries on each of pids, in two git
// calls (none when the notes ref does not exist).
func readAttestNotes(ctx context.Context, env *Env, pids []string) (map[string][]attest.NoteEntry, error) {
	res := map[string][]attest.NoteEntry{}
	if len(pids) == 0 {
		return res, nil
	}
	if _, err := env.Runner.Git(ctx, "rev-parse", "--verify", "-q", attest.NotesRef); err != nil {
		return res, nil
	}
	list, err := env.Runner.Git(ctx, "notes", "--ref="+attest.NotesRef, "list")
	if err != nil {
		return nil, fmt.Errorf("read attestation notes: %w", err)
	}
	want := map[string]bool{}
	for _, p := range pids {
		want[p] = true
	}
	blobs := map[string]string{} // note blob -> patch-id
	var in bytes.Buffer
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) == 2 && want[f[1]] {
			blobs[f[0]] = f[1]
			in.WriteString(f[0] + "\n")
		}
	}
	if in.Len() == 0 {
		return res, nil
	}
	out, err := env.Runner.GitInput(ctx, in.Bytes(), "cat-file", "--batch")
	if err != nil {
		return nil, fmt.Errorf("read attestation notes: %w", err)
	}
	for len(out) > 0 {
		hdr, rest, ok := bytes.Cut(out, []byte("\n"))
		f := strings.Fields(string(hdr))
		if !ok || len(f) != 3 {
			break
		}
		size, err := strconv.Atoi(f[2])
		if err != nil || size > len(rest) {
			break
		}
		res[blobs[f[0]]] = attest.ParseNote(string(rest[:size]))
		out = bytes.TrimPrefix(rest[size:], []byte("\n"))
	}
	return res, nil
}

// syncAttestNotes pushes or fetches attest.NotesRef along with the verdict
// cache ("git rapido cache push|fetch"). Fetched entries are merged line by
// line, as the cache's are. Nothing to send, or nothing on the remote, is
// not an error.
func syncAttestNotes(ctx context.Context, env *Env, op, remote string) (string, error) {
	ref := attest.NotesRef
	if op == "push" {
		if _, err := env.Runner.Git(ctx, "rev-parse", "--verify", "-q", ref); err != nil {
			return "", nil
		}
		return env.Runner.Git(ctx, "push", "--end-of-options", remote, ref+":"+ref)
	}
	tmp := ref + "-fetched"
	if has, err := env.Runner.Git(ctx, "ls-remote", "--end-of-options", remote, ref); err != nil || strings.TrimSpace(has) == "" {
		return "", err
	}
	out, err := env.Runner.Git(ctx, "fetch", "--end-of-options", remote, "+"+ref+":"+tmp)
	if err != nil {
		return out, err
	}
	defer env.Runner.Git(ctx, "update-ref", "-m", "rapido cache fetch", "-d", tmp)
	if _, err := env.Runner.Git(ctx, "rev-parse", "--verify", "-q", ref); err != nil {
		_, err := env.Runner.Git(ctx, "update-ref", "-m", "rapido cache fetch", ref, tmp)
		return out, err
	}
	m, err := env.Runner.Git(ctx, "notes", "--ref="+ref, "merge", "-q", "-s", "cat_sort_uniq", tmp)
	return out + m, err
}
