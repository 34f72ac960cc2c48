package series

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testGit runs git in the test's repository (never in the one the test
// runs from).
type testGit struct {
	t   *testing.T
	dir string
}

func (g testGit) Git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			g.t.Logf("git %q: %s", args, ee.Stderr)
		}
	}
	return strings.TrimRight(string(out), "\n"), err
}

func gitRepo(t *testing.T) (string, testGit) {
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("HOME", t.TempDir())
	for k, v := range map[string]string{"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@x"} {
		t.Setenv(k, v)
	}
	top := t.TempDir()
	g := testGit{t, top}
	run := func(args ...string) {
		if _, err := g.Git(context.Background(), append([]string{"-C", top}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	run("init", "-q")
	os.WriteFile(filepath.Join(top, "same.c"), []byte("same\n"), 0o644)
	os.WriteFile(filepath.Join(top, "differs.c"), []byte("v1\n"), 0o644)
	run("add", ".")
	run("commit", "-q", "-m", "one")
	os.WriteFile(filepath.Join(top, "differs.c"), []byte("v2\n"), 0o644)
	run("commit", "-q", "-a", "-m", "two")
	return top, g
}

// TestSeed: a slot's build directory is copied from the user's with the
// source path rewritten and the mtimes kept; the slot's files that are the
// same as the user's get the user's mtimes, the others stay newer.
func TestSeed(t *testing.T) {
	top, g := gitRepo(t)
	ctx := context.Background()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(filepath.Join(top, "same.c"), old, old)
	os.Chtimes(filepath.Join(top, "differs.c"), old, old)
	g.Git(ctx, "-C", top, "update-index", "-q", "--refresh")
	// The build directory inside the source tree, as git rapido's default
	// (.git/rapido/build) is: its own path must become the slot's build
	// directory, not a path under the slot's worktree.
	build := filepath.Join(top, ".git", "rapido", "build")
	os.MkdirAll(filepath.Join(build, "fs"), 0o755)
	os.WriteFile(filepath.Join(build, ".config"), []byte("CONFIG_X=y\n"), 0o644)
	os.WriteFile(filepath.Join(build, "fs", ".same.o.cmd"), []byte("savedcmd_fs/same.o := gcc -I"+top+"/include -c "+top+"/same.c\n"), 0o644)
	os.WriteFile(filepath.Join(build, "fs", "same.o"), []byte("\x7fELF\x00"+top), 0o644)
	os.WriteFile(filepath.Join(build, "fs", ".tool.o.cmd"), []byte("cmd_"+build+"/fs/tool.o := gcc -c "+top+"/tool.c\n"), 0o644)
	os.Symlink(top, filepath.Join(build, "source"))
	objTime := old.Add(time.Minute)
	for _, f := range []string{"fs/.same.o.cmd", "fs/same.o"} {
		os.Chtimes(filepath.Join(build, f), objTime, objTime)
	}

	dir, _ := g.Git(ctx, "-C", top, "rev-parse", "--path-format=absolute", "--git-common-dir")
	s := &Slots{Root: filepath.Join(dir, "rapido", "slots"), Git: g}
	if err := s.Lock(); err != nil {
		t.Fatal(err)
	}
	defer s.Unlock()
	first, _ := g.Git(ctx, "-C", top, "rev-parse", "HEAD~1")
	sls, err := s.Open(ctx, []string{first})
	if err != nil {
		t.Fatal(err)
	}
	sl := sls[0]
	ok, err := s.Seed(ctx, sl, top, build)
	if !ok || err != nil {
		t.Fatalf("Seed = %v, %v", ok, err)
	}
	cmd, _ := os.ReadFile(filepath.Join(sl.BuildDir, "fs", ".same.o.cmd"))
	newTop, _ := filepath.EvalSymlinks(sl.Dir)
	if strings.Contains(string(cmd), "-c "+top+"/same.c") || !strings.Contains(string(cmd), newTop+"/same.c") {
		t.Errorf(".cmd not rewritten: %s", cmd)
	}
	tool, _ := os.ReadFile(filepath.Join(sl.BuildDir, "fs", ".tool.o.cmd"))
	newBuild, _ := filepath.EvalSymlinks(sl.BuildDir)
	if want := "cmd_" + newBuild + "/fs/tool.o := gcc -c " + newTop + "/tool.c\n"; string(tool) != want {
		t.Errorf("build dir path not rewritten:\n got %s want %s", tool, want)
	}
	if obj, _ := os.ReadFile(filepath.Join(sl.BuildDir, "fs", "same.o")); !strings.Contains(string(obj), top) {
		t.Errorf("a binary file was rewritten")
	}
	if l, _ := os.Readlink(filepath.Join(sl.BuildDir, "source")); l != newTop {
		t.Errorf("source -> %s, want %s", l, newTop)
	}
	for f, want := range map[string]time.Time{"fs/.same.o.cmd": objTime, "fs/same.o": objTime} {
		if fi, _ := os.Stat(filepath.Join(sl.BuildDir, f)); !fi.ModTime().Equal(want) {
			t.Errorf("%s mtime %v, want %v", f, fi.ModTime(), want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(sl.Dir, "same.c")); !fi.ModTime().Equal(old) {
		t.Errorf("same.c mtime %v, want the user's %v", fi.ModTime(), old)
	}
	if fi, _ := os.Stat(filepath.Join(sl.Dir, "differs.c")); !fi.ModTime().After(objTime) {
		t.Errorf("differs.c mtime %v, want newer than the objects", fi.ModTime())
	}
	// A slot that has a build is not seeded again.
	if ok, _ := s.Seed(ctx, sl, top, build); ok {
		t.Error("seeded twice")
	}
	// Checkout moves the slot; Ctrl-C's removal keeps the build, and a
	// worktree made again for the commit last built gets old sources.
	head, _ := g.Git(ctx, "-C", top, "rev-parse", "HEAD")
	if err := s.Checkout(ctx, sl, head); err != nil {
		t.Fatal(err)
	}
	s.Built(sl, head)
	if err := s.RemoveWorktrees(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sl.Dir); !os.IsNotExist(err) {
		t.Errorf("worktree left: %v", err)
	}
	if list, _ := g.Git(ctx, "-C", top, "worktree", "list"); strings.Contains(list, "slots") {
		t.Errorf("git still lists the slot: %s", list)
	}
	sls, err = s.Open(ctx, []string{first})
	if err != nil {
		t.Fatal(err)
	}
	if at, _ := g.Git(ctx, "-C", sls[0].Dir, "rev-parse", "HEAD"); at != head {
		t.Errorf("slot made again at %s, want the commit last built %s", at, head)
	}
	if fi, _ := os.Stat(filepath.Join(sls[0].Dir, "differs.c")); fi.ModTime().After(objTime) {
		t.Errorf("made-again slot's sources are newer than its build")
	}
	if err := s.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Root); !os.IsNotExist(err) {
		t.Errorf("slots left: %v", err)
	}
}
