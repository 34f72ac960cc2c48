package vmrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/git-rapido/git-rapido/vmrun/internal/cut"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// Host directories in the guest: a share is mounted over 9p, so a test runs
// the host's files in place (--share, --pwd, the share directive).

// Share is a host directory mounted in the guest.
type Share = cut.Share

// PwdGuestDir is where --pwd mounts the current directory in the guest. It
// is the same on every machine, so that the verdict of a test run from a
// directory of the repository is found again by a teammate whose clone
// lives elsewhere.
const PwdGuestDir = "/mnt/pwd"

// ParseShare reads --share HOSTDIR[:GUESTDIR[:ro|rw]], a relative HOSTDIR
// being relative to base, and checks the directory can be served.
func ParseShare(v, base string) (Share, error) { return cut.ParseShare(v, base) }

// PwdShare is --pwd: dir (the current directory) shared read-only at
// PwdGuestDir; the test starts there.
func PwdShare(dir string) (Share, error) {
	return cut.ParseShare(dir+":"+PwdGuestDir+":ro", "/")
}

// shares are the plan's shares, the manifest's and the options'.
func (p *Plan) shares() []Share { return p.cut.Host.Shares }

// qemuShares is the QEMU side of the shares: tag and host path.
func (p *Plan) qemuShares() []qemu.Share {
	var out []qemu.Share
	for i, s := range p.shares() {
		out = append(out, qemu.Share{Tag: cut.ShareTag(i), Path: s.Host, RW: s.RW})
	}
	return out
}

// shareKey is what the cache key holds for one share: the git tree of its
// files, or why it has none.
type shareKey struct{ tree, why string }

// KeyShares reads what the test will read from each share, for the cache
// key (Key, Uncached). A read-only share inside the kernel's repository is
// keyed on the git tree of its files as they are in the worktree —
// tracked or not, committed or not; ignored files are left out, as git add
// leaves them. One outside is keyed only as its key= names (sharekey.go).
// A writable share, and one outside with no key, has none: git rapido
// cannot tell what the test read there, so its verdict is not cached.
func (p *Plan) KeyShares(ctx context.Context, g Git) error {
	p.shareKeys = make([]shareKey, len(p.shares()))
	for i, s := range p.shares() {
		k, err := readShareKey(ctx, g, p.build.SourceDir, s)
		if err != nil {
			return fmt.Errorf("share %s: %w", s.Host, err)
		}
		p.shareKeys[i] = k
	}
	return nil
}

func readShareKey(ctx context.Context, g Git, top string, s Share) (shareKey, error) {
	if s.RW {
		return shareKey{why: "it is writable (rw), and what the test writes there is no input git rapido can key"}, nil
	}
	if s.Key != "" {
		return namedShareKey(ctx, g, top, s)
	}
	rel, ok := insideRepo(top, s.Host)
	if !ok {
		// Outside the kernel's repository git rapido cannot know what
		// describes the test's input: a checkout's worktree tree leaves
		// out its ignored files, and those are often what the test runs
		// (fstests' built binaries). The user names the key.
		why := "it is outside the repository, and no key names what describes its files (add ,key=git for a checkout of its own at HEAD, or ,key=content)"
		if _, err := g.Git(ctx, "-C", s.Host, "rev-parse", "--show-toplevel"); err != nil {
			why = "it is outside the repository and in no git worktree, so no git tree describes its files (to cache its verdicts, name key=content)"
		}
		return shareKey{why: why}, nil
	}
	tree, err := indexTree(ctx, g, "", rel)
	if err != nil {
		return shareKey{why: fmt.Sprintf("git cannot write a tree of it (%v)", firstLine(err.Error()))}, nil
	}
	// A repository inside the share (a submodule, a nested clone) is in
	// the tree as its HEAD commit only: its uncommitted files are not.
	ls, err := g.Git(ctx, "ls-tree", "-r", "--full-tree", tree)
	if err != nil {
		return shareKey{}, err
	}
	for _, l := range strings.Split(ls, "\n") {
		if strings.HasPrefix(l, "160000 ") {
			_, name, _ := strings.Cut(l, "\t")
			return shareKey{why: fmt.Sprintf("it holds another git repository (%s), whose files its tree does not describe", name)}, nil
		}
	}
	return shareKey{tree: "tree " + tree}, nil
}

// insideRepo returns dir relative to the worktree top, when it is inside
// it and not in the repository's .git.
func insideRepo(top, dir string) (string, bool) {
	if top == "" {
		return "", false
	}
	t, err1 := filepath.EvalSymlinks(top)
	d, err2 := filepath.EvalSymlinks(dir)
	if err1 != nil || err2 != nil {
		return "", false
	}
	rel, err := filepath.Rel(t, d)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	if first, _, _ := strings.Cut(rel, string(filepath.Separator)); first == ".git" {
		return "", false
	}
	if fi, err := os.Stat(filepath.Join(t, ".git")); err != nil || fi == nil {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// Uncached says why a verdict of the plan must not be cached ("" when it
// may be): a share whose files have no key.
func (p *Plan) Uncached() string {
	for i, s := range p.shares() {
		why := "its files were not read"
		if i < len(p.shareKeys) {
			if p.shareKeys[i].tree != "" {
				continue
			}
			why = p.shareKeys[i].why
		}
		return fmt.Sprintf("share %s: %s", s.Host, why)
	}
	return ""
}

// shareKeyLines are the key's lines for the shares (none without shares,
// so that every other key stays as it was).
func (p *Plan) shareKeyLines() string {
	var b strings.Builder
	for i, s := range p.shares() {
		k := "unkeyed"
		if i < len(p.shareKeys) && p.shareKeys[i].tree != "" {
			k = p.shareKeys[i].tree
		}
		fmt.Fprintf(&b, "share %s %s %s\n", s.Guest, s.Mode(), k)
	}
	if d := p.spec.Cut.Workdir; d != "" {
		fmt.Fprintf(&b, "workdir %s\n", d)
	}
	return b.String()
}

// sharesChanged reads the shares' keys again after a run: a share edited
// while the test ran leaves no key describing what the test read.
func (p *Plan) sharesChanged(ctx context.Context, g Git) string {
	for i, s := range p.shares() {
		if i >= len(p.shareKeys) || p.shareKeys[i].tree == "" {
			continue
		}
		k, err := readShareKey(ctx, g, p.build.SourceDir, s)
		if err != nil || k.tree != p.shareKeys[i].tree {
			return fmt.Sprintf("share %s changed during the test", s.Host)
		}
	}
	return ""
}

// describeShares is --dry-run's line for the shares. With transport it
// also says how each is served (9p or virtiofs, and why): that is this
// machine's choice, not the test's, so a verdict's words leave it out (the
// entry's share_transport records it).
func (p *Plan) describeShares(transport bool) []string {
	var out []string
	use, _, notes, err := shareTransports(p.spec.QEMU.ShareTransport, p.shares(), findVirtiofsd)
	for i, s := range p.shares() {
		l := fmt.Sprintf("share: %s on %s (%s)", s.Host, s.Guest, s.Mode())
		if transport {
			t := "9p"
			if err != nil {
				t = "virtiofs, which cannot be had"
			} else if use[i] {
				t = "virtiofs"
			}
			l = fmt.Sprintf("share: %s on %s (%s, over %s)", s.Host, s.Guest, s.Mode(), t)
		}
		// The key read (a verdict's words), or the key named (--dry-run).
		if i < len(p.shareKeys) && p.shareKeys[i].tree != "" {
			l += ", key " + p.shareKeys[i].tree
		} else if s.Key != "" {
			l += ", key=" + s.Key
		}
		out = append(out, l)
	}
	if transport {
		out = append(out, notes...)
	}
	if d := p.spec.Cut.Workdir; d != "" {
		out = append(out, "test directory: "+d)
	}
	return out
}
