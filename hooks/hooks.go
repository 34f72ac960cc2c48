// Package hooks installs the git hooks that enforce signed verdicts, and
// holds the policy they apply.
//
// The installed hooks are thin shims that run "git rapido hook <name>".
// Installing never overwrites a user's hook: an existing one is renamed to
// "<name>.rapido-chained" and run by git rapido after its own check, with
// the same arguments and standard input; uninstalling puts it back. The
// hooks directory is the caller's to find ("git rev-parse --git-path hooks"
// honours core.hooksPath).
//
// The package imports nothing of git rapido's: git access is through the
// small Git interface, and verification through the verdicts the caller
// hands to Policy.Check.
package hooks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Git runs git and returns its standard output without the final newline.
type Git interface {
	Git(ctx context.Context, args ...string) (string, error)
}

// Names are the hooks git rapido provides.
var Names = []string{"pre-push", "post-rewrite", "pre-receive"}

// Marker is the line that identifies a shim as git rapido's.
const Marker = "# installed by git rapido hooks install: runs git rapido's check, then any chained hook"

// ChainSuffix is appended to a user's hook when a shim takes its place.
const ChainSuffix = ".rapido-chained"

// Shim is the text of the hook file for name.
func Shim(name string) string {
	return "#!/bin/sh\n" + Marker + "\n# (the hook that was here before is " + name + ChainSuffix + ")\nexec git rapido hook " + name + " \"$@\"\n"
}

// State is what is installed for one hook.
type State string

// The states of a hook.
const (
	Absent    State = "absent"    // no hook
	Installed State = "installed" // our shim
	Chained   State = "chained"   // our shim, running the user's former hook after it
	Foreign   State = "foreign"   // someone else's hook (install will chain it)
)

// IsShim reports whether the file at p is git rapido's shim.
func IsShim(p string) bool {
	b, err := os.ReadFile(p)
	return err == nil && bytes.Contains(b, []byte(Marker))
}

// Status says what is installed for name in the hooks directory dir.
func Status(dir, name string) State {
	p := filepath.Join(dir, name)
	if _, err := os.Lstat(p); err != nil {
		return Absent
	}
	if !IsShim(p) {
		return Foreign
	}
	if _, err := os.Lstat(p + ChainSuffix); err == nil {
		return Chained
	}
	return Installed
}

// ChainedHook is the user's former hook that the shim for name runs, or ""
// when there is none (or it is not executable, which git would also skip).
func ChainedHook(dir, name string) string {
	p := filepath.Join(dir, name+ChainSuffix)
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return p
}

// Install puts the shim for name in dir. A foreign hook is kept as the
// chained hook; installing twice changes nothing. It reports whether a
// foreign hook was chained.
func Install(dir, name string) (chained bool, err error) {
	if !known(name) {
		return false, fmt.Errorf("install hook: unknown hook %q", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("install hook: %w", err)
	}
	p := filepath.Join(dir, name)
	switch Status(dir, name) {
	case Installed, Chained:
		return false, nil
	case Foreign:
		if _, err := os.Lstat(p + ChainSuffix); err == nil {
			return false, fmt.Errorf("install hook %s: both %s and %s exist; move one away first", name, p, p+ChainSuffix)
		}
		if err := os.Rename(p, p+ChainSuffix); err != nil {
			return false, fmt.Errorf("install hook %s: keep the existing hook: %w", name, err)
		}
		chained = true
	}
	tmp := p + ".rapido-tmp"
	if err := os.WriteFile(tmp, []byte(Shim(name)), 0o755); err != nil {
		return false, fmt.Errorf("install hook %s: %w", name, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("install hook %s: %w", name, err)
	}
	return chained, nil
}

// Uninstall removes the shim for name from dir and restores the chained
// hook, if any. It reports whether a hook was restored. A foreign hook is
// left alone.
func Uninstall(dir, name string) (restored bool, err error) {
	p := filepath.Join(dir, name)
	switch Status(dir, name) {
	case Absent, Foreign:
		return false, nil
	}
	if err := os.Remove(p); err != nil {
		return false, fmt.Errorf("uninstall hook %s: %w", name, err)
	}
	if _, err := os.Lstat(p + ChainSuffix); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := os.Rename(p+ChainSuffix, p); err != nil {
		return false, fmt.Errorf("uninstall hook %s: restore %s: %w", name, p+ChainSuffix, err)
	}
	return true, nil
}

func known(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

// ZeroID reports whether id is git's all-zero object id (a created or
// deleted ref).
func ZeroID(id string) bool { return id != "" && strings.Trim(id, "0") == "" }

// Update is one ref update a push asks for.
type Update struct {
	Ref string // the ref on the receiving side
	Old string // its current value there (zero when it is created)
	New string // the value pushed (zero when it is deleted)
}

// ParsePrePush reads pre-push's standard input:
// "<local ref> <local id> <remote ref> <remote id>" per line.
func ParsePrePush(r io.Reader) ([]Update, error) {
	return parseLines(r, 4, func(f []string) Update { return Update{Ref: f[2], Old: f[3], New: f[1]} })
}

// ParsePreReceive reads pre-receive's standard input:
// "<old id> <new id> <ref>" per line.
func ParsePreReceive(r io.Reader) ([]Update, error) {
	return parseLines(r, 3, func(f []string) Update { return Update{Ref: f[2], Old: f[0], New: f[1]} })
}

// objectID reports whether s is a full SHA-1 or SHA-256 object id: the ids
// of an update reach git as arguments, so nothing else may pass for one.
func objectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// ParseRewrites reads post-rewrite's standard input: "<old> <new> [<extra>]"
// per line, returned as pairs.
func ParseRewrites(r io.Reader) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("post-rewrite input: bad line %q", sc.Text())
		}
		out = append(out, [2]string{f[0], f[1]})
	}
	return out, sc.Err()
}

func parseLines(r io.Reader, n int, mk func([]string) Update) ([]Update, error) {
	var out []Update
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != n {
			return nil, fmt.Errorf("hook input: bad line %q", sc.Text())
		}
		u := mk(f)
		if !objectID(u.Old) || !objectID(u.New) {
			return nil, fmt.Errorf("hook input: bad object id in %q", sc.Text())
		}
		out = append(out, u)
	}
	return out, sc.Err()
}

// NewCommits lists the commits an update brings: reachable from u.New but
// not from u.Old nor from the revisions in exclude (e.g. "--all" on the
// receiving side, or "--remotes=origin" for a new branch). One git call.
func NewCommits(ctx context.Context, g Git, u Update, exclude ...string) ([]string, error) {
	if ZeroID(u.New) {
		return nil, nil
	}
	args := []string{"rev-list", u.New, "--not"}
	if !ZeroID(u.Old) && u.Old != "" {
		// The receiving side may hold commits this repository never
		// fetched: then only the exclusions say what is new.
		if _, err := g.Git(ctx, "rev-parse", "--verify", "-q", u.Old+"^{commit}"); err == nil {
			args = append(args, u.Old)
		}
	}
	args = append(args, exclude...)
	out, err := g.Git(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("list commits of %s: %w", u.Ref, err)
	}
	return strings.Fields(out), nil
}

// Verdict is one verified verdict of one commit, as the caller's verifier
// reports it.
type Verdict struct {
	Key    string // trailer key, "Tested-by"
	Value  string
	Status string // "ok", "stale", ...
	Reason string
}

// Rule requires a verdict trailer on the commits pushed to some refs.
type Rule struct {
	Key string // trailer key, matched case-insensitively
	Ref string // glob (path.Match) of refs it applies to; "" for every ref
}

// ParseRule parses "<key>[:<ref glob>]", the form of rapido.policy.require.
func ParseRule(s string) (Rule, error) {
	k, ref, _ := strings.Cut(strings.TrimSpace(s), ":")
	k, ref = strings.TrimSpace(k), strings.TrimSpace(ref)
	if k == "" || strings.ContainsAny(k, " \t") {
		return Rule{}, fmt.Errorf("bad policy rule %q: want <trailer key>[:<ref glob>]", s)
	}
	if ref != "" {
		if _, err := path.Match(ref, "refs/heads/x"); err != nil {
			return Rule{}, fmt.Errorf("bad policy rule %q: %w", s, err)
		}
	}
	return Rule{Key: k, Ref: ref}, nil
}

// Policy says which verdicts a push may carry.
type Policy struct {
	// Require lists the verdicts every pushed commit must carry, signed
	// and ok (or with a status in Allow other than unsigned).
	Require []Rule
	// Allow lists the statuses other than "ok" that are let through.
	Allow []string
}

// Violation is one reason to refuse a push.
type Violation struct {
	Ref    string
	Commit string
	Msg    string
}

func (v Violation) String() string { return fmt.Sprintf("%s %.12s: %s", v.Ref, v.Commit, v.Msg) }

func (p *Policy) allowed(status string) bool {
	if status == "ok" {
		return true
	}
	for _, a := range p.Allow {
		if a == status {
			return true
		}
	}
	return false
}

// applies reports whether the rule protects ref.
func (r Rule) applies(ref string) bool {
	if r.Ref == "" {
		return true
	}
	ok, _ := path.Match(r.Ref, ref)
	return ok
}

// Required lists the trailer keys the policy requires on ref, lower-cased,
// each once.
func (p *Policy) Required(ref string) []string {
	var keys []string
	for _, r := range p.Require {
		if k := strings.ToLower(r.Key); r.applies(ref) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// Tip is one existing ref of the receiving side and the object it points to.
type Tip struct {
	Name string // the ref's name on the receiving side
	ID   string
}

// Settled lists the ids of the tips whose commits need no check when they
// become reachable from ref: those of refs that require every verdict ref
// requires, because their commits were checked for those verdicts when they
// landed there (or predate the policy). A commit that only an unprotected
// ref reaches (pushed to "wip" first) is thus checked again when it lands
// on a protected one.
func (p *Policy) Settled(ref string, tips []Tip) []string {
	need := p.Required(ref)
	var ids []string
	for _, t := range tips {
		have := p.Required(t.Name)
		if !slices.ContainsFunc(need, func(k string) bool { return !slices.Contains(have, k) }) {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// CheckObject applies the policy to ref pushed to point at an object that
// is not a commit (a tree or a blob, directly or through tags): it carries
// no verdict, so every rule that protects ref is violated.
func (p *Policy) CheckObject(ref, id, typ string) []Violation {
	var out []Violation
	for _, r := range p.Require {
		if r.applies(ref) {
			out = append(out, Violation{ref, id, fmt.Sprintf("missing: points to a %s, not a commit: no %s verdict can be checked (required on %s)", typ, r.Key, orAll(r.Ref))})
		}
	}
	return out
}

// Check applies the policy to the commits pushed to ref; verdicts maps each
// commit to its verified verdicts.
func (p *Policy) Check(ref string, commits []string, verdicts map[string][]Verdict) []Violation {
	var out []Violation
	for _, c := range commits {
		for _, v := range verdicts[c] {
			if !p.allowed(v.Status) {
				msg := fmt.Sprintf("%s: %s: %s", v.Status, v.Key, v.Value)
				if v.Reason != "" {
					msg += ": " + v.Reason
				}
				out = append(out, Violation{ref, c, msg})
			}
		}
		for _, r := range p.Require {
			if !r.applies(ref) {
				continue
			}
			found := false
			for _, v := range verdicts[c] {
				if strings.EqualFold(v.Key, r.Key) && v.Status != "unsigned" && p.allowed(v.Status) {
					found = true
				}
			}
			if !found {
				out = append(out, Violation{ref, c, fmt.Sprintf("missing: no signed %s verdict (required on %s)", r.Key, orAll(r.Ref))})
			}
		}
	}
	return out
}

func orAll(ref string) string {
	if ref == "" {
		return "every ref"
	}
	return ref
}
