package vmrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// digestOf is contentDigest(dir), failing the test on an error.
func digestOf(t *testing.T, dir string) (string, string) {
	t.Helper()
	d, why, err := contentDigest(dir)
	if err != nil {
		t.Fatalf("contentDigest(%s): %v", dir, err)
	}
	return d, why
}

// TestContentDigest: key=content's digest is the directory's files and
// nothing else: each path, type, exec bit, content and link target changes
// it; times and the order files were made in do not.
func TestContentDigest(t *testing.T) {
	mk := func(t *testing.T, order []string) string {
		dir := t.TempDir()
		files := map[string]string{"a": "alpha\n", "sub/b": "beta\n", "sub/deep/c": "gamma\n", "empty/": ""}
		for _, name := range order {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if strings.HasSuffix(name, "/") {
				os.MkdirAll(p, 0o755)
				continue
			}
			if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.Symlink("sub/b", filepath.Join(dir, "link"))
		return dir
	}
	dir := mk(t, []string{"a", "sub/b", "sub/deep/c", "empty/"})
	base, why := digestOf(t, dir)
	if why != "" || !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("digest %q, not keyed because %q", base, why)
	}
	// Another directory with the same files, made in another order and at
	// other times, has the same digest.
	other := mk(t, []string{"empty/", "sub/deep/c", "sub/b", "a"})
	old := time.Unix(1e9, 0)
	os.Chtimes(filepath.Join(other, "a"), old, old)
	if d, _ := digestOf(t, other); d != base {
		t.Errorf("same files, other order and times: %s, want %s", d, base)
	}
	// Through a symlink to it, the directory is the same.
	link := filepath.Join(t.TempDir(), "l")
	os.Symlink(dir, link)
	if d, _ := digestOf(t, link); d != base {
		t.Errorf("through a symlink: %s, want %s", d, base)
	}
	for _, tc := range []struct {
		name   string
		change func(dir string) error
	}{
		{"one byte", func(d string) error { return os.WriteFile(filepath.Join(d, "sub/deep/c"), []byte("gammA\n"), 0o644) }},
		{"exec bit", func(d string) error { return os.Chmod(filepath.Join(d, "a"), 0o755) }},
		{"rename", func(d string) error { return os.Rename(filepath.Join(d, "a"), filepath.Join(d, "A")) }},
		{"move across directories", func(d string) error {
			return os.Rename(filepath.Join(d, "sub/deep/c"), filepath.Join(d, "sub/c"))
		}},
		{"new empty file", func(d string) error { return os.WriteFile(filepath.Join(d, "new"), nil, 0o644) }},
		{"new empty directory", func(d string) error { return os.Mkdir(filepath.Join(d, "sub/new"), 0o755) }},
		{"link target", func(d string) error {
			os.Remove(filepath.Join(d, "link"))
			return os.Symlink("sub/deep/c", filepath.Join(d, "link"))
		}},
		{"link made a file", func(d string) error {
			os.Remove(filepath.Join(d, "link"))
			return os.WriteFile(filepath.Join(d, "link"), []byte("sub/b"), 0o644)
		}},
		{"file removed", func(d string) error { return os.Remove(filepath.Join(d, "sub/b")) }},
	} {
		d := mk(t, []string{"a", "sub/b", "sub/deep/c", "empty/"})
		if err := tc.change(d); err != nil {
			t.Fatal(err)
		}
		if got, why := digestOf(t, d); got == base || why != "" {
			t.Errorf("%s: digest unchanged (%v) or not keyed (%q)", tc.name, got == base, why)
		}
	}
	// Permissions other than the exec bit are not the test's input (git
	// keeps none either).
	d := mk(t, []string{"a", "sub/b", "sub/deep/c", "empty/"})
	os.Chmod(filepath.Join(d, "a"), 0o600)
	if got, _ := digestOf(t, d); got != base {
		t.Error("a read permission changed the digest")
	}
}

// TestContentDigestRefuses: what has no content to key, or is too large to
// read for every test, is not keyed, and the answer says why.
func TestContentDigestRefuses(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("12345678"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, why := digestOf(t, dir); d != "" || why != "key=content: pipe is a named pipe, device or socket, whose content git rapido cannot key" {
		t.Errorf("a fifo: digest %q, why %q", d, why)
	}
	os.Remove(filepath.Join(dir, "pipe"))

	defer func(f, b int64) { contentKeyMaxFiles, contentKeyMaxBytes = f, b }(contentKeyMaxFiles, contentKeyMaxBytes)
	contentKeyMaxFiles, contentKeyMaxBytes = 1, 7
	if _, why := digestOf(t, dir); !strings.Contains(why, "more than 0 MiB") || !strings.Contains(why, "key=git") {
		t.Errorf("past the byte limit: why %q", why)
	}
	contentKeyMaxBytes = 8
	if _, why := digestOf(t, dir); why != "" {
		t.Errorf("at the byte limit: not keyed because %q", why)
	}
	os.WriteFile(filepath.Join(dir, "g"), nil, 0o644)
	if _, why := digestOf(t, dir); !strings.Contains(why, "more than 1 files") || !strings.Contains(why, "key=git") {
		t.Errorf("past the file limit: why %q", why)
	}
	if os.Geteuid() != 0 {
		contentKeyMaxFiles = 10
		os.Chmod(filepath.Join(dir, "g"), 0)
		if _, why := digestOf(t, dir); !strings.Contains(why, "cannot read g (permission denied)") {
			t.Errorf("an unreadable file: why %q", why)
		}
	}
}

// TestShareKeyNamed: the key the user names decides how a share outside
// the repository is keyed; the plan's key and its words follow it.
func TestShareKeyNamed(t *testing.T) {
	f, g := shareRepo(t)
	ctx := context.Background()
	with := func(v string) *Spec {
		t.Helper()
		s := clone(f.spec)
		sh, err := ParseShare(v, f.dir)
		if err != nil {
			t.Fatal(err)
		}
		s.Cut.Shares = []Share{sh}
		return s
	}
	words := func(s *Spec) string {
		p := mustPlan(t, s)
		if err := p.KeyShares(ctx, g); err != nil {
			t.Fatal(err)
		}
		return strings.Join(described(p), "\n")
	}

	// key=content on a plain directory.
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "input"), []byte("one\n"), 0o644)
	sc := with(data + ":/mnt/d,key=content")
	k1, why := sharedKey(t, g, sc)
	if why != "" {
		t.Fatalf("key=content: not cached because %q", why)
	}
	if w := words(sc); !strings.Contains(w, "share: "+data+" on /mnt/d (ro), key content:sha256:") {
		t.Errorf("the verdict's words do not name the key:\n%s", w)
	}
	if k, _ := sharedKey(t, g, sc); k != k1 {
		t.Error("unchanged content, another key")
	}
	os.WriteFile(filepath.Join(data, "input"), []byte("onE\n"), 0o644)
	if k, _ := sharedKey(t, g, sc); k == k1 {
		t.Error("one byte changed, the same key")
	}
	// Unnamed, the same directory is not cached, and the answer names the key.
	if _, why := sharedKey(t, g, with(data+":/mnt/d")); !strings.Contains(why, "name key=content") {
		t.Errorf("no key named: why %q", why)
	}

	// key=git on another repository: its tree at HEAD, clean.
	other := execGit{t.TempDir()}
	os.MkdirAll(filepath.Join(other.dir, "tests"), 0o755)
	os.WriteFile(filepath.Join(other.dir, "tests/check"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(other.dir, ".gitignore"), []byte("*.o\n"), 0o644)
	gitIn := func(args ...string) {
		t.Helper()
		if _, err := other.Git(ctx, args...); err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
	}
	gitIn("init", "-q")
	gitIn("add", "-A")
	gitIn("commit", "-q", "-m", "o")
	for _, dir := range []string{other.dir, filepath.Join(other.dir, "tests")} {
		sg := with(dir + ":/mnt/f,key=git")
		kg, why := sharedKey(t, g, sg)
		if why != "" {
			t.Fatalf("key=git %s: not cached because %q", dir, why)
		}
		rev := "HEAD:tests"
		if dir == other.dir {
			rev = "HEAD^{tree}"
		}
		tree, _ := other.Git(ctx, "rev-parse", rev)
		if w := words(sg); !strings.Contains(w, "key git:"+tree) {
			t.Errorf("key=git %s: the words do not name tree %s:\n%s", dir, tree, w)
		}
		// Ignored files are not the tree's, and not a change.
		os.WriteFile(filepath.Join(other.dir, "tests/x.o"), nil, 0o644)
		if k, why := sharedKey(t, g, sg); k != kg || why != "" {
			t.Errorf("key=git %s: an ignored file changed the key or the caching (%q)", dir, why)
		}
		// An edit, then an untracked file: not cached, and why.
		os.WriteFile(filepath.Join(other.dir, "tests/check"), []byte("#!/bin/sh\n# "+dir+"\n"), 0o755)
		if _, why := sharedKey(t, g, sg); !strings.HasSuffix(why, ": key=git: it has uncommitted or untracked changes (tests/check); commit them, or key=content") {
			t.Errorf("key=git %s, edited: why %q", dir, why)
		}
		gitIn("commit", "-q", "-a", "-m", "edit")
		os.WriteFile(filepath.Join(other.dir, "tests/new"), []byte(dir), 0o644)
		if _, why := sharedKey(t, g, sg); !strings.Contains(why, "uncommitted or untracked changes (tests/new)") {
			t.Errorf("key=git %s, untracked file: why %q", dir, why)
		}
		gitIn("add", "-A")
		gitIn("commit", "-q", "-m", "new")
		if k, why := sharedKey(t, g, sg); k == kg || why != "" {
			t.Errorf("key=git %s: another HEAD, the same key (%v) or not cached (%q)", dir, k == kg, why)
		}
	}
	// A change outside the shared directory leaves its key alone.
	sg := with(filepath.Join(other.dir, "tests") + ":/mnt/f,key=git")
	kg, _ := sharedKey(t, g, sg)
	os.WriteFile(filepath.Join(other.dir, "README"), nil, 0o644)
	if k, why := sharedKey(t, g, sg); k != kg || why != "" {
		t.Errorf("key=git: a file beside the share changed its key or caching (%q)", why)
	}
	// key=git on a directory in the kernel's own repository is its HEAD tree.
	if _, why := sharedKey(t, g, with("tools/t:/mnt/t,key=git")); why != "" {
		t.Errorf("key=git in the repository: not cached because %q", why)
	}
	for _, tc := range []struct{ share, why string }{
		{data + ":/mnt/d,key=git", "key=git: it is in no git worktree (use key=content)"},
		{"tools/t/empty:/mnt/t,key=git", "key=git: HEAD holds no files there (commit them, or key=content)"},
	} {
		os.MkdirAll(filepath.Join(f.dir, "tools/t/empty"), 0o755)
		if _, why := sharedKey(t, g, with(tc.share)); !strings.HasSuffix(why, ": "+tc.why) {
			t.Errorf("%s: why %q, want %q", tc.share, why, tc.why)
		}
	}
	// A share edited during the test leaves no key describing what it read.
	p := mustPlan(t, sc)
	if err := p.KeyShares(ctx, g); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "input"), []byte("two\n"), 0o644)
	if why := p.sharesChanged(ctx, g); why == "" {
		t.Error("a content-keyed share edited during the test went unnoticed")
	}
}

// BenchmarkContentDigest measures key=content on 10,000 files of 1 KiB in
// 100 directories, side by side with the default key of a share in a git
// worktree (git add -A and write-tree through a copy of the index, its stat
// data warm), git hashing every file (a cold index), and key=git, on the
// same files.
func BenchmarkContentDigest(b *testing.B) {
	dir := b.TempDir()
	buf := make([]byte, 1024)
	for i := 0; i < 10_000; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d/f%04d", i%100, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		buf[0], buf[1] = byte(i), byte(i>>8)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("content", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if d, why, err := contentDigest(dir); d == "" || why != "" || err != nil {
				b.Fatal(why, err)
			}
		}
	})
	b.Setenv("HOME", b.TempDir())
	b.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	g := execGit{dir}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.name=b", "-c", "user.email=b@example.org", "commit", "-q", "-m", "b"}} {
		if _, err := g.Git(context.Background(), args...); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("git-worktree-tree", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := indexTree(context.Background(), g, "", "."); err != nil {
				b.Fatal(err)
			}
		}
	})
	// git hashing every file, as it does for a directory it has no index
	// entries for: the reference for reading all the content.
	b.Run("git-add-cold", func(b *testing.B) {
		idx := filepath.Join(b.TempDir(), "index")
		env := []string{"GIT_INDEX_FILE=" + idx}
		for i := 0; i < b.N; i++ {
			os.Remove(idx)
			if _, err := g.GitEnv(context.Background(), env, "add", "-A"); err != nil {
				b.Fatal(err)
			}
			if _, err := g.GitEnv(context.Background(), env, "write-tree"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("git-head", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if k, err := gitShareKey(context.Background(), g, dir, dir); err != nil || k.tree == "" {
				b.Fatal(k.why, err)
			}
		}
	})
}
