package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/git-rapido/git-rapido/trailers/attest"
	"github.com/git-rapido/git-rapido/vmrun"
)

// The signing side of signed verdicts: when rapido.signingKey is set, every
// verdict trailer that test and review add gets a Rapido-Attest trailer
// next to it (see trailers/attest for the format).

func init() {
	verdictSigner = signVerdict
	verdictSignerCheck = func(ctx context.Context, env *Env) error {
		if _, err := attestMode(ctx, env); err != nil {
			return err
		}
		_, err := configuredSigner(ctx, env)
		return err
	}
}

// signers remembers the key loaded for an invocation, so the passphrase is
// asked once.
var signers sync.Map // *Env -> *attest.Signer

// configuredSigner loads rapido.signingKey, or returns nil when it is not set.
func configuredSigner(ctx context.Context, env *Env) (*attest.Signer, error) {
	if s, ok := signers.Load(env); ok {
		return s.(*attest.Signer), nil
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	path, _ := cfg.Get("rapido.signingKey")
	if strings.TrimSpace(path) == "" {
		return nil, nil
	}
	s, err := loadSigner(env, path)
	if err != nil {
		return nil, err
	}
	signers.Store(env, s)
	return s, nil
}

const signingHint = "hint: verdicts are not signed; set rapido.signingKey (see git rapido key generate) to sign them"

func signVerdict(ctx context.Context, env *Env, commit, key, value string, info *verdictInfo) ([][2]string, error) {
	s, err := configuredSigner(ctx, env)
	if err != nil {
		return nil, err
	}
	if s == nil {
		if info.Spec != "" {
			fmt.Fprintln(env.Stderr, signingHint)
		}
		return nil, nil
	}
	mode, err := attestMode(ctx, env)
	if err != nil {
		return nil, err
	}
	raw, err := env.Runner.Output(ctx, "git", "cat-file", "commit", commit)
	if err != nil {
		return nil, fmt.Errorf("sign verdict: read commit %.12s: %w", commit, err)
	}
	header, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	tree := headerField(header, "tree")
	pids, err := patchIDs(ctx, env, []string{commit})
	if err != nil {
		return nil, err
	}
	pid := pids[commit]
	// In notes mode, only a commit with a patch-id has a note to key on.
	toNote := mode == "notes" && pid != ""
	if done, err := alreadySigned(ctx, env, s, msg, tree, pid, key, value); err != nil || done {
		return nil, err
	}
	p := &attest.Payload{TrailerKey: key, TrailerValue: value, Verdict: orNone(info.Verdict), Tree: tree,
		PatchID: orNone(pid), Spec: orNone(attest.ShortSpec(info.Spec)), Kernel: orNone(attest.ShortKernel(info.Kernel)),
		Time: time.Now().UTC().Truncate(time.Second)}
	v, err := s.Sign(p)
	if err != nil {
		return nil, fmt.Errorf("sign verdict: %w", err)
	}
	if toNote {
		pendingNotes.Store(env, pendingNote{pid, attest.NoteEntry{Value: v, Trailer: p.Trailer()}})
		return nil, nil
	}
	folded := attest.Fold(attest.Key, v)
	if n := strings.Count(folded, "\n") + 1; n > attest.MaxLines {
		return nil, &HintError{Err: fmt.Errorf("sign verdict: the attestation takes %d lines (at most %d): the signing key makes long signatures", n, attest.MaxLines),
			Hint: "use an Ed25519 key (git rapido key generate), or set rapido.attest=notes"}
	}
	return [][2]string{{attest.Key, folded}}, nil
}

// alreadySigned reports whether this key already vouches for the trailer,
// for this tree, in the message or in a note: signing again would only pile
// up attestations and rewrite the commit for nothing.
func alreadySigned(ctx context.Context, env *Env, s *attest.Signer, msg []byte, tree, pid, key, value string) (bool, error) {
	var own attest.Keyring
	var pub bytes.Buffer
	if s.WritePublic(&pub) != nil || own.Add(&pub, "signing key") != nil {
		return false, nil
	}
	tcfg, err := trailerConfig(ctx, env)
	if err != nil {
		return false, err
	}
	notes, err := readAttestNotes(ctx, env, []string{pid})
	if err != nil {
		return false, err
	}
	for _, r := range (&attest.Verifier{Keys: &own, Config: tcfg}).CheckWithNotes(msg, tree, notes[pid]) {
		if r.Status == attest.OK && r.Payload.TrailerKey == key && r.Payload.TrailerValue == value {
			return true, nil
		}
	}
	return false, nil
}

// pendingNotes holds the attestation note of an invocation until the
// commit carries its trailer (flushAttestNote), so that a failed amend
// leaves no note behind.
var pendingNotes sync.Map // *Env -> pendingNote

type pendingNote struct {
	pid   string
	entry attest.NoteEntry
}

// flushAttestNote writes the pending attestation note, if any.
func flushAttestNote(ctx context.Context, env *Env) error {
	n, ok := pendingNotes.LoadAndDelete(env)
	if !ok {
		return nil
	}
	return writeAttestNote(ctx, env, n.(pendingNote).pid, n.(pendingNote).entry)
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return attest.None
	}
	return strings.TrimSpace(s)
}

func headerField(header []byte, name string) string {
	for _, l := range strings.Split(string(header), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// expandPath expands a leading "~/" as git does for path-valued keys.
func expandPath(env *Env, p string) string { return vmrun.ExpandPath(p, env.Getenv("HOME")) }

// loadSigner reads the secret key at path, asking for its passphrase when
// it is protected: RAPIDO_PASSPHRASE, else a prompt on the terminal.
func loadSigner(env *Env, path string) (*attest.Signer, error) {
	path = expandPath(env, path)
	f, err := os.Open(path)
	if err != nil {
		return nil, &HintError{Err: fmt.Errorf("signing key: %w", err),
			Hint: "rapido.signingKey names an armored secret key file; make one with git rapido key generate"}
	}
	defer f.Close()
	s, err := attest.ReadSigner(f, func() ([]byte, error) { return passphrase(env, path) })
	if err != nil {
		if errors.Is(err, attest.ErrPassphrase) {
			return nil, &HintError{Err: fmt.Errorf("signing key %s: %w", path, err),
				Hint: "type it at the prompt, or set RAPIDO_PASSPHRASE"}
		}
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, nil
}

func passphrase(env *Env, path string) ([]byte, error) {
	if pw := env.Getenv("RAPIDO_PASSPHRASE"); pw != "" {
		return []byte(pw), nil
	}
	// Read from the terminal itself: under "exec git rapido test" in a
	// rebase, standard input is not the user's.
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, attest.ErrPassphrase
	}
	defer tty.Close()
	fmt.Fprintf(tty, "Passphrase for %s: ", path)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return pw, nil
}

// patchIDs returns "git patch-id --stable" of each commit's diff against its
// first parent (a root commit against the empty tree), for all commits in two
// processes. A commit with an empty diff has no entry.
func patchIDs(ctx context.Context, env *Env, commits []string) (map[string]string, error) {
	ids := map[string]string{}
	if len(commits) == 0 {
		return ids, nil
	}
	// The diff is git's default one whatever the user's diff.* settings,
	// so that two machines compute the same patch-id.
	args := []string{"-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false",
		"log", "-O/dev/null", "--no-walk=unsorted", "-p", "--no-color", "--no-ext-diff", "--no-textconv",
		"--diff-algorithm=myers", "--no-renames", "--diff-merges=first-parent", "--format=commit %H", "--stdin"}
	diff, err := env.Runner.GitInput(ctx, []byte(strings.Join(commits, "\n")+"\n"), args...)
	if err != nil {
		return nil, fmt.Errorf("patch-id: %w", err)
	}
	out, err := env.Runner.GitInput(ctx, diff, "patch-id", "--stable")
	if err != nil {
		return nil, fmt.Errorf("patch-id: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			ids[f[1]] = f[0]
		}
	}
	return ids, nil
}
