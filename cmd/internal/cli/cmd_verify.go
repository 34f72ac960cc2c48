package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/cmd/internal/termsafe"
	"github.com/git-rapido/git-rapido/trailers/attest"
)

type verifyOptions struct {
	asJSON    bool
	allow     []string
	export    string
	exportDir string
}

func init() {
	Register(func() *Command {
		o := &verifyOptions{}
		return &Command{
			Name:     "verify",
			Synopsis: []string{"verify [--json] [--allow <status>,...] [<revision range>]", "verify --export <commit> [--export-dir <dir>]"},
			Short:    "check the signed verdicts of a range of commits",
			Long: `Checks every verdict (Tested-by:, Reviewed-by:, Acked-by: and any trailer a
Rapido-Attest: trailer vouches for) of every commit in the range, and prints
one line per verdict and a summary:

    ok             signed by a trusted key, for exactly this tree
    rebased        tree differs but the patch-id is the signed one: the same
                   patch moved onto a new base
    stale          tree differs: the code changed after the verdict
    unsigned       a verdict trailer no Rapido-Attest: trailer vouches for
    unknown-key    signed by a key that is not trusted
    bad-signature  the signature does not verify (or uses SHA-1), or the
                   trailer it vouches for was changed or removed
    malformed      the Rapido-Attest: trailer cannot be decoded

The range defaults to @{upstream}..HEAD, or HEAD alone without an upstream;
a single revision (no "..") checks that commit only. The whole range costs
one git call (two more for patch-ids when some verdict is not for the
commit's tree).

Trusted keys come from rapido.trustedKeys files and from the .rapido/keys/*.asc
files of rapido.keyringRef, a full ref name (refs/heads/keys, not keys)
resolved exactly. verify refuses a keyring whose commit is one of the commits
being verified or has one of them in its history: a series cannot vouch for
itself.

Attestations are read from the message and from the notes in
refs/notes/rapido-attest on each commit's patch-id (rapido.attest=notes).
Several attestations of one verdict: the best valid one counts, but one
that does not verify (bad-signature) or cannot be read is always listed.

With --export, the payload and the armored signature of the n-th
attestation of <commit> are written to <dir>/<abbrev>-<n>.payload and
<dir>/<abbrev>-<n>.payload.asc (<abbrev>: 12 hex digits of the commit id),
and their names printed, so that GnuPG checks the verdict without git rapido:

    gpg --import maintainer.asc
    gpg --verify 1a2b3c4d5e6f-1.payload.asc 1a2b3c4d5e6f-1.payload

(gpg checks the signature only: the tree in the payload must still be
compared with the commit's, which is what verify does.)`,
			Sections: []Section{
				{"EXIT STATUS", `0    every verdict is ok (or has a status listed in --allow)
1    some verdict is not ok
128  the range or the keyring cannot be read, or the keyring holds a commit
     being verified`},
				{"CONFIGURATION", `rapido.trustedKeys   armored keyring file of trusted keys (multi-valued, ~ expanded)
rapido.keyringRef    full ref name (refs/...) whose .rapido/keys/*.asc files
                     are trusted keys
rapido.attest        trailer (default) or notes: where test and review put
                     attestations; verify reads both`},
			},
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVar(&o.asJSON, "json", false, "print one JSON object for scripts")
				fs.StringSliceVar(&o.allow, "allow", nil, "also accept the statuses in `list` (e.g. rebased,unsigned)")
				fs.StringVar(&o.export, "export", "", "write the payloads and signatures of `commit` for gpg --verify")
				fs.StringVar(&o.exportDir, "export-dir", ".", "write exported files into `dir`")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runVerify(ctx, env, o, args)
			},
		}
	})
}

// verifiedCommit is one commit and its verdicts.
type verifiedCommit struct {
	Commit   string          `json:"commit"`
	Tree     string          `json:"tree"`
	Subject  string          `json:"subject"`
	Verdicts []verifiedEntry `json:"verdicts"`
}

type verifiedEntry struct {
	Trailer string          `json:"trailer"`
	Status  attest.Status   `json:"status"`
	Reason  string          `json:"reason,omitempty"`
	Signer  string          `json:"signer,omitempty"`
	Payload *attest.Payload `json:"payload,omitempty"`
}

// runVerify verifies the trailers of the range, tallies them (pure) and
// prints; a verdict neither OK nor allowed makes it exit 1, so a CI job or
// a hook can gate on it.
func runVerify(ctx context.Context, env *Env, o *verifyOptions, args []string) error {
	if o.export != "" {
		if len(args) > 0 {
			return Usagef("--export takes no range")
		}
		return runExport(ctx, env, o)
	}
	for _, a := range o.allow {
		if !knownStatus(a) {
			return Usagef("--allow: unknown status %q (want one of %s)", a, statusList())
		}
	}
	logArgs := verifyLogArgs(ctx, env, args)
	trust, err := loadTrust(ctx, env)
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	cs, err := verifyRevs(ctx, env, trust.keys, logArgs, nil)
	if err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.Commit
	}
	if err := trust.notFrom(ctx, env, ids); err != nil {
		return &ExitError{Code: 128, Err: err}
	}
	t := tallyVerdicts(cs, o.allow)
	if o.asJSON {
		if err := printVerifyJSON(env, cs, t); err != nil {
			return err
		}
	} else {
		done := startPager(ctx, env)
		p, err := newPainter(ctx, env)
		if err != nil {
			done()
			return err
		}
		printVerifyText(env, p, cs, t)
		done()
	}
	if t.bad > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// verifyTally counts what verify found, for the summary and the exit code.
type verifyTally struct {
	counts map[attest.Status]int
	bad    int // verdicts neither OK nor allowed: they make verify exit 1
	n      int // verdicts
	bare   int // commits without any verdict
}

// tallyVerdicts counts the verdicts of cs; a status in allow does not
// count as bad.
func tallyVerdicts(cs []verifiedCommit, allow []string) verifyTally {
	t := verifyTally{counts: map[attest.Status]int{}}
	for _, c := range cs {
		if len(c.Verdicts) == 0 {
			t.bare++
		}
		for _, v := range c.Verdicts {
			t.counts[v.Status]++
			t.n++
			if v.Status != attest.OK && !contains(allow, string(v.Status)) {
				t.bad++
			}
		}
	}
	return t
}

// printVerifyJSON prints verify --json: every commit (an empty list, not
// null, when there are none), the counts by status and whether all passed.
func printVerifyJSON(env *Env, cs []verifiedCommit, t verifyTally) error {
	out := struct {
		Commits []verifiedCommit `json:"commits"`
		Counts  map[string]int   `json:"counts"`
		OK      bool             `json:"ok"`
	}{Commits: cs, Counts: map[string]int{}, OK: t.bad == 0}
	if out.Commits == nil {
		out.Commits = []verifiedCommit{}
	}
	for s, c := range t.counts {
		out.Counts[string(s)] = c
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// printVerifyText prints one line per verdict, with its reason or signer
// below it, and a summary line. Trailers, reasons and signers come from
// commits and keys, so they are escaped before they reach a terminal.
func printVerifyText(env *Env, p painter, cs []verifiedCommit, t verifyTally) {
	for _, c := range cs {
		for _, v := range c.Verdicts {
			fmt.Fprintf(env.Stdout, "%s %.12s %s\n", p.pad(string(v.Status), 13), c.Commit, termsafe.Escape(v.Trailer))
			switch {
			case v.Reason != "":
				fmt.Fprintf(env.Stdout, "%-13s   %s\n", "", termsafe.Escape(v.Reason))
			case v.Signer != "":
				fmt.Fprintf(env.Stdout, "%-13s   signed by %s\n", "", termsafe.Escape(v.Signer))
			}
		}
	}
	var parts []string
	for _, s := range attest.Statuses {
		if t.counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", t.counts[s], s))
		}
	}
	summary := fmt.Sprintf("%d %s, %d %s", len(cs), plural(len(cs), "commit"), t.n, plural(t.n, "verdict"))
	if len(parts) > 0 {
		summary += ": " + strings.Join(parts, ", ")
	}
	if t.bare > 0 {
		summary += fmt.Sprintf("; %d %s without verdicts", t.bare, plural(t.bare, "commit"))
	}
	fmt.Fprintln(env.Stdout, summary)
}

// verifyLogArgs turns verify's revisions into git log arguments. The
// revisions come after --end-of-options: text like "--output=FILE" is a
// bad revision, never an option of git log.
func verifyLogArgs(ctx context.Context, env *Env, revs []string) []string {
	if len(revs) == 0 {
		if _, err := env.Runner.Git(ctx, "rev-parse", "--verify", "-q", "@{upstream}"); err == nil {
			revs = []string{"@{upstream}..HEAD"}
		} else {
			revs = []string{"HEAD"}
		}
	}
	walk := false
	for _, a := range revs {
		walk = walk || strings.Contains(a, "..") || strings.HasPrefix(a, "^")
	}
	var opts []string
	if !walk {
		opts = []string{"--no-walk=unsorted"}
	}
	return append(append(opts, "--end-of-options"), revs...)
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func knownStatus(s string) bool {
	for _, x := range attest.Statuses {
		if string(x) == s {
			return true
		}
	}
	return false
}

func statusList() string {
	var ss []string
	for _, x := range attest.Statuses {
		ss = append(ss, string(x))
	}
	return strings.Join(ss, ", ")
}

// verifyRevs verifies the commits git log lists for logArgs (or, with
// stdin, the commits it names) in one git call, plus two for patch-ids
// when some verdict is stale.
func verifyRevs(ctx context.Context, env *Env, kr *attest.Keyring, logArgs []string, stdin []byte) ([]verifiedCommit, error) {
	args := append([]string{"log", "-z", "--format=%H %T%n%B"}, logArgs...)
	var out []byte
	var err error
	if stdin != nil {
		out, err = env.Runner.GitInput(ctx, stdin, append(args, "--stdin")...)
	} else {
		out, err = env.Runner.Output(ctx, "git", args...)
	}
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	tcfg, err := trailerConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	v := &attest.Verifier{Keys: kr, Config: tcfg}
	notes, pids, err := rangeNotes(ctx, env, out)
	if err != nil {
		return nil, err
	}
	var cs []verifiedCommit
	results := map[int][]attest.Result{}
	var staleCommits []string
	for _, rec := range bytes.Split(out, []byte{0}) {
		head, msg, ok := bytes.Cut(rec, []byte("\n"))
		if !ok {
			continue
		}
		var c verifiedCommit
		if _, err := fmt.Sscan(string(head), &c.Commit, &c.Tree); err != nil {
			continue
		}
		c.Subject, _, _ = strings.Cut(string(msg), "\n")
		rs := v.CheckWithNotes(msg, c.Tree, notes[pids[c.Commit]])
		for _, r := range rs {
			if r.Status == attest.Stale && pids == nil {
				staleCommits = append(staleCommits, c.Commit)
				break
			}
		}
		results[len(cs)] = rs
		cs = append(cs, c)
	}
	if pids == nil {
		if pids, err = patchIDs(ctx, env, staleCommits); err != nil {
			return nil, err
		}
	}
	for i := range cs {
		cs[i].Verdicts = []verifiedEntry{}
		for _, r := range results[i] {
			attest.Resolve(&r, pids[cs[i].Commit])
			cs[i].Verdicts = append(cs[i].Verdicts, verifiedEntry{Trailer: r.Trailer, Status: r.Status,
				Reason: r.Reason, Signer: r.Signer, Payload: r.Payload})
		}
	}
	return cs, nil
}

// rangeNotes reads the attestation notes (rapido.attest=notes) of the
// commits of a "git log -z --format=%H ..." output, with the patch-ids of all
// of them; both are nil when there is no notes ref (no patch-id is computed
// then).
func rangeNotes(ctx context.Context, env *Env, logOut []byte) (map[string][]attest.NoteEntry, map[string]string, error) {
	if _, err := env.Runner.Git(ctx, "rev-parse", "--verify", "-q", attest.NotesRef); err != nil {
		return nil, nil, nil
	}
	var commits []string
	for _, rec := range bytes.Split(logOut, []byte{0}) {
		if f := strings.Fields(string(bytes.SplitN(rec, []byte("\n"), 2)[0])); len(f) > 0 {
			commits = append(commits, f[0])
		}
	}
	pids, err := patchIDs(ctx, env, commits)
	if err != nil {
		return nil, nil, err
	}
	var list []string
	for _, p := range pids {
		list = append(list, p)
	}
	notes, err := readAttestNotes(ctx, env, list)
	return notes, pids, err
}

func runExport(ctx context.Context, env *Env, o *verifyOptions) error {
	commit, err := env.Runner.Git(ctx, "rev-parse", "--verify", "--end-of-options", o.export+"^{commit}")
	if err != nil {
		return &ExitError{Code: 128, Err: fmt.Errorf("export: %s: not a commit", o.export)}
	}
	msg, err := env.Runner.Output(ctx, "git", "log", "-1", "--format=%B", commit)
	if err != nil {
		return &ExitError{Code: 128, Err: fmt.Errorf("export: %w", err)}
	}
	tcfg, err := trailerConfig(ctx, env)
	if err != nil {
		return err
	}
	// The trusted keys, when there are any, tell which trailer a compact
	// attestation vouches for; without them it is the one it follows.
	kr, _ := loadKeyring(ctx, env)
	notes, pids, err := rangeNotes(ctx, env, []byte(commit+"\n"))
	if err != nil {
		return &ExitError{Code: 128, Err: fmt.Errorf("export: %w", err)}
	}
	ex, err := (&attest.Verifier{Keys: kr, Config: tcfg}).ExportWithNotes(msg, notes[pids[commit]])
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("export: %.12s: %w", commit, err)}
	}
	if len(ex) == 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("export: %.12s has no %s trailer", commit, attest.Key)}
	}
	if err := os.MkdirAll(o.exportDir, 0o755); err != nil {
		return &ExitError{Code: 128, Err: fmt.Errorf("export: %w", err)}
	}
	for i, e := range ex {
		payload, sig := e.Payload, e.Signature
		base := filepath.Join(o.exportDir, fmt.Sprintf("%.12s-%d.payload", commit, i+1))
		if err := os.WriteFile(base, payload, 0o644); err != nil {
			return &ExitError{Code: 128, Err: fmt.Errorf("export: %w", err)}
		}
		if err := os.WriteFile(base+".asc", sig, 0o644); err != nil {
			return &ExitError{Code: 128, Err: fmt.Errorf("export: %w", err)}
		}
		fmt.Fprintf(env.Stdout, "%s\n%s\n", base, base+".asc")
	}
	return nil
}
