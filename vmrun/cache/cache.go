// Package cache keeps test verdicts as git notes on tree objects in
// refs/notes/rapido. Keying on the tree (not the commit) means a verdict
// survives rewording, reordering and squashing that keep the code, and the
// notes ref can be pushed and fetched to share verdicts with a team.
//
// # Note format
//
// A note holds verdicts one per line, each line a JSON object (Entry). Lines
// are kept sorted by spec digest so that two machines that recorded the same
// verdicts write identical notes, and "git notes merge -s cat_sort_uniq"
// merges notes from two remotes. Several lines may share a spec (a team's
// verdicts for one tree); which of them may answer a test is decided by
// Judge (trust.go), never by their order.
//
// The package knows nothing of how a verdict is produced: it stores what the
// caller hands it and talks to git through the small Git interface.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Ref is the notes ref holding the verdicts.
const Ref = "refs/notes/rapido"

// Git runs the git binary. An error from a git that ran and exited non-zero
// should carry its status through an ExitStatus() int method (see
// ExitStatus); the command layer's adapter provides it.
type Git interface {
	Git(ctx context.Context, args ...string) (string, error)
	GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error)
}

// ExitStatus is the exit status of the git that returned err, or -1 when it
// did not run or the error does not say.
func ExitStatus(err error) int {
	var e interface{ ExitStatus() int }
	if errors.As(err, &e) {
		return e.ExitStatus()
	}
	return -1
}

// Entry is one cached verdict.
type Entry struct {
	Spec     string          `json:"spec"` // the spec digest: what was tested besides the tree
	Tree     string          `json:"tree,omitempty"`
	Status   string          `json:"status"`
	Reason   string          `json:"reason"`
	Excerpt  []string        `json:"excerpt,omitempty"`
	Release  string          `json:"release,omitempty"`
	Duration time.Duration   `json:"duration"`
	Timings  json.RawMessage `json:"timings,omitempty"`
	Time     time.Time       `json:"time"`
	LogDir   string          `json:"log_dir,omitempty"`
	Commit   string          `json:"commit,omitempty"`  // the commit that was tested
	Parents  string          `json:"parents,omitempty"` // its parents: same tree and parents means "tested as this commit"
	// Runs and Passed count the runs of a repeated test (--repeat): "Passed
	// of Runs passed". Zero Runs means one run.
	Runs   int `json:"runs,omitempty"`
	Passed int `json:"passed,omitempty"`
	// Accel is the accelerator the boot ran under (kvm, tcg) and Described
	// the test spec in words (the --dry-run lines without the cache key),
	// for git rapido report.
	Accel     string   `json:"accel,omitempty"`
	Described []string `json:"described,omitempty"`
	Provenance
}

// Provenance says who produced an entry, where and with what. By, Machine
// and Seal decide whether the entry is this user's own (see Local); Sig
// makes it usable by others who trust the key.
type Provenance struct {
	By      string `json:"by,omitempty"`      // user.email of the tester
	Machine string `json:"machine,omitempty"` // MachineID of the host that ran the test
	Tool    string `json:"tool,omitempty"`    // git-rapido version (metadata, not part of the key)
	// Seal is an HMAC of the entry with a secret that never leaves this
	// user's home on this machine: proof that the entry is our own, which
	// By and Machine alone (readable by anyone the notes are pushed to)
	// cannot be.
	Seal string `json:"seal,omitempty"`
	// Sig is a base64 OpenPGP signature over Payload, by rapido.signingKey.
	Sig string `json:"sig,omitempty"`
}

// Payload is what the seal and the signature cover: the entry as JSON
// without them. It names the tree, so a signed verdict cannot be copied onto
// another tree's note.
func (e Entry) Payload() []byte {
	e.Seal, e.Sig = "", ""
	b, _ := json.Marshal(e)
	return b
}

// RunCount is the number of runs the entry stands for (at least 1).
func (e Entry) RunCount() int { return max(e.Runs, 1) }

// Flaky reports whether a repeated test both passed and failed.
func (e Entry) Flaky() bool { return e.Runs > 1 && e.Passed > 0 && e.Passed < e.Runs }

// Cache reads and writes verdict notes through the git binary.
type Cache struct {
	Git Git
}

// Get returns every entry of tree's note.
func (c *Cache) Get(ctx context.Context, tree string) ([]Entry, error) {
	out, err := c.Git.Git(ctx, "notes", "--ref="+Ref, "show", tree)
	if err != nil {
		// git notes show exits 1 for "no note found".
		if ExitStatus(err) == 1 {
			return nil, nil
		}
		return nil, fmt.Errorf("read verdict cache: tree %.12s: %w", tree, err)
	}
	return Parse(out), nil
}

// Parse reads a note's lines, skipping lines it does not understand (a
// newer git rapido may add kinds of lines).
func Parse(note string) []Entry {
	var es []Entry
	for _, l := range strings.Split(note, "\n") {
		var e Entry
		if json.Unmarshal([]byte(strings.TrimSpace(l)), &e) == nil && e.Spec != "" {
			es = append(es, e)
		}
	}
	return es
}

// sameProducer reports whether a and b were made by the same user on the
// same machine: a new verdict replaces only its producer's old one.
func sameProducer(a, b Entry) bool { return a.By == b.By && a.Machine == b.Machine }

// Store records e for tree, replacing the entry of the same spec by the same
// producer and keeping everybody else's. Two runs in two worktrees of one
// repository serialise on a lock file in the common git dir, so neither
// loses the other's verdict.
func (c *Cache) Store(ctx context.Context, tree string, e Entry) error {
	unlock, err := c.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	es, err := c.Get(ctx, tree)
	if err != nil {
		return err
	}
	kept := es[:0]
	for _, old := range es {
		if old.Spec != e.Spec || !sameProducer(old, e) {
			kept = append(kept, old)
		}
	}
	kept = append(kept, e)
	return c.write(ctx, tree, kept)
}

// Forget removes tree's note (every spec), or only the entries of spec.
func (c *Cache) Forget(ctx context.Context, tree, spec string) (int, error) {
	return c.Remove(ctx, tree, func(e Entry) bool { return spec == "" || strings.HasPrefix(e.Spec, spec) })
}

// Remove drops the entries of tree's note that drop selects and returns how
// many it dropped.
func (c *Cache) Remove(ctx context.Context, tree string, drop func(Entry) bool) (int, error) {
	unlock, err := c.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	es, err := c.Get(ctx, tree)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	kept := es[:0]
	for _, e := range es {
		if !drop(e) {
			kept = append(kept, e)
		}
	}
	removed := len(es) - len(kept)
	switch {
	case removed == 0:
	case len(kept) == 0:
		_, err = c.Git.Git(ctx, "notes", "--ref="+Ref, "remove", "--ignore-missing", tree)
	default:
		err = c.write(ctx, tree, kept)
	}
	return removed, err
}

func (c *Cache) write(ctx context.Context, tree string, es []Entry) error {
	var lines []string
	for _, e := range es {
		j, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("write verdict cache: tree %.12s: %w", tree, err)
		}
		lines = append(lines, string(j))
	}
	// Sorted as cat_sort_uniq sorts, so a merge and a local write of the
	// same verdicts give the same note.
	sort.Strings(lines)
	note := strings.Join(lines, "\n") + "\n"
	if _, err := c.Git.GitInput(ctx, []byte(note), "-c", "core.notesRef="+Ref, "notes", "--ref="+Ref,
		"add", "-f", "-F", "-", tree); err != nil {
		return fmt.Errorf("write verdict cache: tree %.12s: %w", tree, err)
	}
	return nil
}

func (c *Cache) lock(ctx context.Context) (func(), error) {
	dir, err := c.Git.Git(ctx, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return nil, fmt.Errorf("lock verdict cache: %w", err)
	}
	p := filepath.Join(dir, "rapido-notes.lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock verdict cache: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if ctx.Err() != nil || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock verdict cache: %s is held by another git rapido", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() { f.Close() }, nil
}
