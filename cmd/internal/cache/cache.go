// Package cache keeps test verdicts as git notes on tree objects in
// refs/notes/rapido. Keying on the tree (not the commit) means a verdict
// survives rewording, reordering and squashing that keep the code, and the
// notes ref can be pushed and fetched to share verdicts with a team.
//
// # Note format
//
// A note holds one verdict per line, one line per spec digest, each line a
// JSON object (Entry). Lines are kept sorted by spec digest so that two
// machines that recorded the same verdicts write identical notes, and
// "git notes merge -s cat_sort_uniq" merges notes from two remotes.
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

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/vmrun"
)

// Ref is the notes ref holding the verdicts.
const Ref = "refs/notes/rapido"

// Entry is one cached verdict.
type Entry struct {
	Spec     string        `json:"spec"` // vmrun.Spec.Digest()
	Status   vmrun.Status  `json:"status"`
	Reason   string        `json:"reason"`
	Excerpt  []string      `json:"excerpt,omitempty"`
	Release  string        `json:"release,omitempty"`
	Duration time.Duration `json:"duration"`
	Timings  vmrun.Timings `json:"timings"`
	Time     time.Time     `json:"time"`
	LogDir   string        `json:"log_dir,omitempty"`
	Commit   string        `json:"commit,omitempty"`  // the commit that was tested
	Parents  string        `json:"parents,omitempty"` // its parents: same tree and parents means "tested as this commit"
	Tool     string        `json:"tool,omitempty"`
}

// Verdict turns the entry back into a verdict.
func (e *Entry) Verdict() *vmrun.Verdict {
	return &vmrun.Verdict{Status: e.Status, Reason: e.Reason, Excerpt: e.Excerpt, LogDir: e.LogDir,
		KernelRelease: e.Release, Timings: e.Timings, Started: e.Time, Duration: e.Duration}
}

// FromVerdict makes an entry.
func FromVerdict(spec, commit, parents, tool string, v *vmrun.Verdict) Entry {
	return Entry{Spec: spec, Parents: parents, Status: v.Status, Reason: v.Reason, Excerpt: v.Excerpt, Release: v.KernelRelease,
		Duration: v.Duration, Timings: v.Timings, Time: v.Started.UTC(), LogDir: v.LogDir, Commit: commit, Tool: tool}
}

// Cacheable reports whether a verdict describes the tree (and not the
// machine): infrastructure failures are never cached.
func Cacheable(s vmrun.Status) bool { return s != vmrun.Infra && s != "" }

// Cache reads and writes verdict notes through the git binary.
type Cache struct {
	Git *gitexec.Runner
}

// Get returns every entry of tree's note.
func (c *Cache) Get(ctx context.Context, tree string) ([]Entry, error) {
	out, err := c.Git.Git(ctx, "notes", "--ref="+Ref, "show", tree)
	if err != nil {
		if gitexec.ExitCode(err) == 1 || strings.Contains(err.Error(), "no note found") {
			return nil, nil
		}
		return nil, fmt.Errorf("read verdict cache for tree %.12s: %w", tree, err)
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

// Lookup returns the verdict cached for tree under spec.
func (c *Cache) Lookup(ctx context.Context, tree, spec string) (*Entry, error) {
	es, err := c.Get(ctx, tree)
	if err != nil {
		return nil, err
	}
	for i := range es {
		if es[i].Spec == spec {
			return &es[i], nil
		}
	}
	return nil, nil
}

// Store records e for tree, replacing any entry with the same spec. Two
// runs in two worktrees of one repository serialise on a lock file in the
// common git dir, so neither loses the other's verdict.
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
		if old.Spec != e.Spec {
			kept = append(kept, old)
		}
	}
	kept = append(kept, e)
	return c.write(ctx, tree, kept)
}

// Forget removes tree's note (every spec), or only the entries of spec.
func (c *Cache) Forget(ctx context.Context, tree, spec string) (int, error) {
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
		if spec != "" && !strings.HasPrefix(e.Spec, spec) {
			kept = append(kept, e)
		}
	}
	removed := len(es) - len(kept)
	if len(kept) == 0 {
		_, err = c.Git.Git(ctx, "notes", "--ref="+Ref, "remove", "--ignore-missing", tree)
	} else {
		err = c.write(ctx, tree, kept)
	}
	return removed, err
}

func (c *Cache) write(ctx context.Context, tree string, es []Entry) error {
	sort.Slice(es, func(i, j int) bool { return es[i].Spec < es[j].Spec })
	var b strings.Builder
	for _, e := range es {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	if _, err := c.Git.GitInput(ctx, []byte(b.String()), "-c", "core.notesRef="+Ref, "notes", "--ref="+Ref,
		"add", "-f", "-F", "-", tree); err != nil {
		return fmt.Errorf("write verdict cache for tree %.12s: %w", tree, err)
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

// List returns every (tree, entries) in the cache.
func (c *Cache) List(ctx context.Context) (map[string][]Entry, error) {
	out, err := c.Git.Git(ctx, "notes", "--ref="+Ref, "list")
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") || gitexec.ExitCode(err) == 1 {
			return nil, nil
		}
		return nil, fmt.Errorf("list verdict cache: %w", err)
	}
	blobs := map[string]string{} // note blob -> tree
	var input strings.Builder
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		blobs[f[0]] = f[1]
		input.WriteString(f[0] + "\n")
	}
	if len(blobs) == 0 {
		return nil, nil
	}
	// One cat-file for all notes, not one git call per tree.
	raw, err := c.Git.GitInput(ctx, []byte(input.String()), "cat-file", "--batch")
	if err != nil {
		return nil, fmt.Errorf("list verdict cache: %w", err)
	}
	res := map[string][]Entry{}
	for len(raw) > 0 {
		nl := strings.IndexByte(string(raw), '\n')
		if nl < 0 {
			break
		}
		hdr := strings.Fields(string(raw[:nl]))
		raw = raw[nl+1:]
		if len(hdr) != 3 {
			continue
		}
		var size int
		fmt.Sscan(hdr[2], &size)
		if size > len(raw) {
			break
		}
		res[blobs[hdr[0]]] = Parse(string(raw[:size]))
		raw = raw[size:]
		if len(raw) > 0 && raw[0] == '\n' {
			raw = raw[1:]
		}
	}
	return res, nil
}

// ErrNoRemote is returned by Push and Fetch without a remote.
var ErrNoRemote = errors.New("no remote given")

// Push sends the verdicts to remote.
func (c *Cache) Push(ctx context.Context, remote string) (string, error) {
	return c.Git.Git(ctx, "push", remote, Ref+":"+Ref)
}

// Fetch gets remote's verdicts and merges them into ours: entries for
// different specs are kept side by side (cat_sort_uniq on sorted lines).
func (c *Cache) Fetch(ctx context.Context, remote string) (string, error) {
	tmp := "refs/notes/rapido-fetched"
	out, err := c.Git.Git(ctx, "fetch", remote, "+"+Ref+":"+tmp)
	if err != nil {
		return out, err
	}
	defer c.Git.Git(ctx, "update-ref", "-d", tmp)
	if _, err := c.Git.Git(ctx, "rev-parse", "--verify", "-q", Ref); err != nil {
		_, err := c.Git.Git(ctx, "update-ref", "-m", "rapido cache fetch", Ref, tmp)
		return out, err
	}
	m, err := c.Git.Git(ctx, "notes", "--ref="+Ref, "merge", "-q", "-s", "cat_sort_uniq", tmp)
	return out + m, err
}
