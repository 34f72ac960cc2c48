package vmrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
)

// execGit runs the git binary in dir with no system or user configuration.
type execGit struct{ dir string }

func (g execGit) GitEnv(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return "", &gitFailure{ee, string(ee.Stderr)}
	}
	return strings.TrimSpace(string(out)), err
}

func (g execGit) Git(ctx context.Context, args ...string) (string, error) {
	return g.GitEnv(ctx, nil, args...)
}

func (g execGit) GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Stdin = strings.NewReader(string(stdin))
	return cmd.Output()
}

type gitFailure struct {
	*exec.ExitError
	stderr string
}

func (e *gitFailure) Error() string { return e.ExitError.Error() + ": " + e.stderr }

// shareRepo makes the key fixture's directory a git repository with a
// committed test directory tools/t and a file outside it.
func shareRepo(t *testing.T) (*keyFixture, execGit) {
	f := newKeyFixture(t)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "T")
	t.Setenv("GIT_AUTHOR_EMAIL", "t@example.org")
	t.Setenv("GIT_COMMITTER_NAME", "T")
	t.Setenv("GIT_COMMITTER_EMAIL", "t@example.org")
	g := execGit{f.dir}
	f.write(t, "tools/t/my-test", "#!/bin/sh\nexit 0\n", 0o755)
	f.write(t, "Makefile", "all:\n", 0o644)
	f.write(t, ".gitignore", "*.o\n", 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "c"}} {
		if _, err := g.Git(context.Background(), args...); err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
	}
	return f, g
}

// sharedKey is the plan's key with the shares read, and why it is not
// cached ("" when it is).
func sharedKey(t *testing.T, g execGit, s *Spec) (string, string) {
	t.Helper()
	p := mustPlan(t, s)
	if err := p.KeyShares(context.Background(), g); err != nil {
		t.Fatalf("KeyShares: %v", err)
	}
	k, err := p.Key()
	if err != nil {
		t.Fatal(err)
	}
	return k, p.Uncached()
}

// TestShareKey: a read-only share inside the repository is keyed on its
// files as the worktree holds them (committed or not, tracked or not), and
// on nothing else; a share outside the repository, or a writable one, is
// not cached.
func TestShareKey(t *testing.T) {
	f, g := shareRepo(t)
	ctx := context.Background()
	noShare := f.key(t, f.spec)
	withShare := func(v string) *Spec {
		s := clone(f.spec)
		sh, err := ParseShare(v, f.dir)
		if err != nil {
			t.Fatal(err)
		}
		s.Cut.Shares = []Share{sh}
		return s
	}
	s := withShare("tools/t:/mnt/t")
	clean, why := sharedKey(t, g, s)
	if why != "" || clean == noShare {
		t.Fatalf("clean share in the repo: key %s (no share: %s), not cached because %q", clean, noShare, why)
	}
	if again, _ := sharedKey(t, g, s); again != clean {
		t.Error("the key of an unchanged share changed")
	}
	// A file outside the share, or an ignored one in it, is not the test's input.
	f.write(t, "Makefile", "all: x\n", 0o644)
	f.write(t, "tools/t/x.o", "obj\n", 0o644)
	if k, _ := sharedKey(t, g, s); k != clean {
		t.Error("a change outside the share (or ignored in it) changed the key")
	}
	// An edit in the share, uncommitted, gives another key; so does an
	// untracked file: the test can read both.
	f.write(t, "tools/t/my-test", "#!/bin/sh\nexit 1\n", 0o755)
	dirty, why := sharedKey(t, g, s)
	if dirty == clean || why != "" {
		t.Errorf("uncommitted edit in the share: key unchanged (%v) or not cached (%q)", dirty == clean, why)
	}
	f.write(t, "tools/t/helper", "data\n", 0o644)
	untracked, _ := sharedKey(t, g, s)
	if untracked == dirty {
		t.Error("an untracked file in the share did not change the key")
	}
	// Committing what was tested keeps the key: it is the files' tree.
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", "d"}} {
		if _, err := g.Git(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	if k, _ := sharedKey(t, g, s); k != untracked {
		t.Error("committing the share's files changed its key")
	}
	// The real index is left alone.
	if out, _ := g.Git(ctx, "status", "--porcelain"); out != "" {
		t.Errorf("keying the share changed the index or worktree: %q", out)
	}
	// The whole worktree (--pwd at the top) is keyed too.
	if _, why := sharedKey(t, g, withShare(".:/mnt/pwd")); why != "" {
		t.Errorf("the worktree's top as a share: not cached because %q", why)
	}

	out := t.TempDir()
	for _, tc := range []struct{ share, why string }{
		{out + ":/mnt/o", "outside the repository"},
		{"tools/t:/mnt/t:rw", "writable (rw)"},
		{filepath.Join(f.dir, ".git") + ":/mnt/g", "outside the repository"},
	} {
		k, why := sharedKey(t, g, withShare(tc.share))
		if !strings.Contains(why, tc.why) {
			t.Errorf("share %s: Uncached() = %q; want %q", tc.share, why, tc.why)
		}
		if k == clean || k == noShare {
			t.Errorf("share %s: key collides with another spec's", tc.share)
		}
	}
	// A repository nested in the share is keyed by its HEAD only: not cached.
	nested := execGit{filepath.Join(f.dir, "tools/t/nested")}
	os.MkdirAll(nested.dir, 0o755)
	for _, args := range [][]string{{"init", "-q"}, {"commit", "-q", "--allow-empty", "-m", "n"}} {
		if _, err := nested.Git(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, why := sharedKey(t, g, s); !strings.Contains(why, "another git repository (nested)") {
		t.Errorf("a share holding a nested repository: Uncached() = %q", why)
	}
	os.RemoveAll(nested.dir)
	// Before KeyShares nothing is known of the share: not cached.
	if why := mustPlan(t, s).Uncached(); why == "" {
		t.Error("a plan whose shares were not read claims to be cacheable")
	}
}

// TestShareKeyOtherRepository: a share in a git worktree of its own (an
// fstests checkout beside the kernel) is outside the kernel's repository:
// without a key the user named its verdict is not cached (its ignored
// files, such as built test binaries, are in no tree), and the reason
// names key=git; with key=git it is keyed on that repository's HEAD tree.
func TestShareKeyOtherRepository(t *testing.T) {
	f, g := shareRepo(t)
	ctx := context.Background()
	other := execGit{t.TempDir()}
	os.MkdirAll(filepath.Join(other.dir, "tests"), 0o755)
	os.WriteFile(filepath.Join(other.dir, "tests/check"), []byte("#!/bin/sh\n"), 0o755)
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "o"}} {
		if _, err := other.Git(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	s := clone(f.spec)
	sh, err := ParseShare(filepath.Join(other.dir, "tests")+":/mnt/fstests", "/")
	if err != nil {
		t.Fatal(err)
	}
	s.Cut.Shares = []Share{sh}
	if _, why := sharedKey(t, g, s); why == "" || !strings.Contains(why, "key=git") {
		t.Fatalf("a share in another repository without a key: cached, or the reason does not name key=git: %q", why)
	}
	sh, err = ParseShare(filepath.Join(other.dir, "tests")+":/mnt/fstests,key=git", "/")
	if err != nil {
		t.Fatal(err)
	}
	s.Cut.Shares = []Share{sh}
	k1, why := sharedKey(t, g, s)
	if why != "" {
		t.Fatalf("a share in another repository with key=git: not cached because %q", why)
	}
	os.WriteFile(filepath.Join(other.dir, "tests/check"), []byte("#!/bin/sh\nexit 1\n"), 0o755)
	for _, args := range [][]string{{"commit", "-q", "-a", "-m", "o2"}} {
		if _, err := other.Git(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	if k2, _ := sharedKey(t, g, s); k2 == k1 {
		t.Error("a commit in the other repository's share did not change the key")
	}
	if _, err := other.Git(ctx, "diff", "--cached", "--quiet"); err != nil {
		t.Errorf("keying changed the other repository's index: %v", err)
	}
}

// TestShareKeySymlinkedTop: the repository reached through a symlink is
// still the repository.
func TestShareKeySymlinkedTop(t *testing.T) {
	f, g := shareRepo(t)
	link := filepath.Join(t.TempDir(), "linux")
	if err := os.Symlink(f.dir, link); err != nil {
		t.Fatal(err)
	}
	s := clone(f.spec)
	sh, err := ParseShare(filepath.Join(link, "tools/t")+":/mnt/t", "/")
	if err != nil {
		t.Fatal(err)
	}
	s.Cut.Shares = []Share{sh}
	if _, why := sharedKey(t, g, s); why != "" {
		t.Errorf("a share reached through a symlink to the repository: not cached because %q", why)
	}
}

// TestShareQEMUAndKconfig: the run's QEMU gets the shares by tag, the
// build gets 9p, and --dry-run names them.
func TestShareQEMUAndKconfig(t *testing.T) {
	f, _ := shareRepo(t)
	s := clone(f.spec)
	sh, _ := PwdShare(filepath.Join(f.dir, "tools/t"))
	s.Cut.Shares, s.Cut.Workdir = []Share{sh}, sh.Guest
	p := mustPlan(t, s)
	argv, err := p.DryRun()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(argv, " ")
	if !strings.Contains(joined, "-fsdev local,id=rapidofs0,path="+filepath.Join(f.dir, "tools/t")+",security_model=none,readonly=on -device virtio-9p-pci,fsdev=rapidofs0,mount_tag=rapido0") {
		t.Errorf("dry run lacks the share: %s", joined)
	}
	// 9p and virtiofs are in the built-in fragment: a share adds nothing
	// to the build, whose config (and key) is the one without shares.
	for _, k := range []string{"CONFIG_9P_FS=y", "CONFIG_NET_9P_VIRTIO=y", "CONFIG_VIRTIO_FS=y"} {
		if !strings.Contains(kbuild.BuiltinFragment("x86_64"), "\n"+k+"\n") || !strings.Contains(kbuild.BuiltinFragment("arm64"), "\n"+k+"\n") {
			t.Errorf("the built-in fragment lacks %s", k)
		}
	}
	if !slices.Equal(p.build.Fragments, mustPlan(t, f.spec).build.Fragments) {
		t.Errorf("a share changed the build's fragments: %q", p.build.Fragments)
	}
	lines, _ := p.Describe()
	if !strings.Contains(strings.Join(lines, "\n"), "share: "+filepath.Join(f.dir, "tools/t")+" on /mnt/pwd (ro, over 9p)\nshares over 9p: /nonexistent/virtiofsd not found\ntest directory: /mnt/pwd") {
		t.Errorf("Describe lacks the share:\n%s", strings.Join(lines, "\n"))
	}
}

// TestClassifyShareNotMounted: a share the guest could not mount is
// "cannot test" (exit 128, never cached), not a failure of the kernel.
func TestClassifyShareNotMounted(t *testing.T) {
	msg := "mount share rapido0 on /mnt/pwd: no such device (the kernel lacks 9p: it needs CONFIG_NET_9P_VIRTIO=y and CONFIG_9P_FS=y)"
	v := &Verdict{}
	classify(v, &bootOutcome{guest: []guest.Event{{Event: "init"}, {Event: "result", ExitCode: 126, Error: msg, Infra: true, Tail: []string{msg}}}})
	if v.Status != Infra || v.Reason != "cannot test: "+msg || v.Status.ExitCode() != 128 {
		t.Errorf("classify(share not mounted) = %s %q", v.Status, v.Reason)
	}
}
