package kbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// reuseEnv builds with the fake make and a stand-in for git: trees are
// names, and diffs between them are what the test says.
type reuseEnv struct {
	*buildEnv
	diffs    map[string][]string // "from>to" → changed paths
	files    []string            // the paths of every tree
	now      string              // the worktree after make ("" = unchanged)
	compiler string
}

func newReuseEnv(t *testing.T) *reuseEnv {
	b := newBuildEnv(t)
	b.o.Fragments = nil
	e := &reuseEnv{buildEnv: b, diffs: map[string][]string{}, compiler: "gcc (Debian 12.2.0-14) 12.2.0",
		files: []string{"init/main.c", "include/linux/kernel.h", "Documentation/a.rst"}}
	for _, f := range e.files {
		p := filepath.Join(b.o.SourceDir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(f+"\n"), 0o644)
	}
	return e
}

// build builds tree and reports whether make ran and whether the build
// said it skipped.
func (e *reuseEnv) build(t *testing.T, tree string) (ranMake, skipped bool) {
	t.Helper()
	e.calls(t)
	o := e.o
	o.Reuse = &Reuse{Compiler: e.compiler,
		// The tree is read next to the decision, as vmrun does.
		ReadTree: func(context.Context) (string, error) { return tree, nil },
		Diff: func(_ context.Context, from, to string) ([]Change, error) {
			d, ok := e.diffs[from+">"+to]
			if !ok {
				return nil, fmt.Errorf("no diff %s>%s", from, to)
			}
			var cs []Change
			for _, p := range d {
				cs = append(cs, Change{Path: p})
			}
			return cs, nil
		},
		Files: func(context.Context, string) ([]string, error) { return e.files, nil },
		Now: func(context.Context) (string, error) {
			if e.now != "" {
				return e.now, nil
			}
			return tree, nil
		},
	}
	var progress strings.Builder
	o.Progress = &progress
	res, err := Build(context.Background(), o)
	if err != nil {
		if _, ok := err.(*Error); ok {
			return len(e.calls(t)) > 0, false
		}
		t.Fatal(err)
	}
	res.Wait()
	ran := false
	for _, c := range e.calls(t) {
		ran = ran || strings.Contains(c, "bzImage")
	}
	if res.Skipped != strings.Contains(progress.String(), SkipNote) {
		t.Errorf("Skipped = %t but progress says %q", res.Skipped, progress.String())
	}
	if res.Skipped && (res.KernelImage != filepath.Join(o.BuildDir, "arch/x86/boot/bzImage") || res.KernelRelease != "6.1.0-fake") {
		t.Errorf("a skipped build returned %+v; want the last build's kernel and release", res)
	}
	return ran, res.Skipped
}

func (e *reuseEnv) expect(t *testing.T, what, tree string, wantMake bool) {
	t.Helper()
	ran, skipped := e.build(t, tree)
	if ran != wantMake || skipped == wantMake {
		t.Errorf("%s: make ran %t, skipped %t; want make to run: %t", what, ran, skipped, wantMake)
	}
}

// TestReuseMatrix: make is skipped only when no input of the last
// kernel changed; every other case of the matrix runs it.
func TestReuseMatrix(t *testing.T) {
	e := newReuseEnv(t)
	e.diffs["t1>docs"] = []string{"Documentation/a.rst"}
	e.diffs["t1>c"] = []string{"init/main.c"}
	e.diffs["c>hdr"] = []string{"include/linux/kernel.h"}
	e.diffs["hdr>kconfig"] = []string{"init/Kconfig"}
	e.diffs["kconfig>mk"] = []string{"init/Makefile"}
	e.diffs["mk>scripts"] = []string{"scripts/Makefile.build"}
	e.diffs["scripts>docs2"] = []string{"Documentation/b.rst"}
	e.diffs["scripts>unbuilt"] = []string{"fs/btrfs/super.c", "arch/arm64/kernel/setup.c", "tools/perf/perf.c"}
	e.diffs["scripts>broken"] = []string{"init/main.c"}

	e.expect(t, "first build", "t1", true)
	e.expect(t, "the same tree", "t1", false)
	e.expect(t, "a docs-only commit", "docs", false)
	e.expect(t, "a .c file in the build", "c", true)
	e.expect(t, "a header an object includes", "hdr", true)
	e.expect(t, "Kconfig", "kconfig", true)
	e.expect(t, "a Makefile", "mk", true)
	e.expect(t, "scripts/", "scripts", true)
	e.expect(t, "another docs commit", "docs2", false)
	e.expect(t, "files outside the build", "unbuilt", false)

	// The build directory changed by hand.
	cfg := filepath.Join(e.o.BuildDir, ".config")
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("CONFIG_BY_HAND=y\n")
	f.Close()
	e.expect(t, ".config edited by hand", "scripts", true)
	e.expect(t, "after that build", "scripts", false)
	img := filepath.Join(e.o.BuildDir, "arch/x86/boot/bzImage")
	os.WriteFile(img, []byte("another kernel\n"), 0o644)
	e.expect(t, "the image replaced by hand", "scripts", true)

	// Another compiler, a fragment, the environment make sees.
	e.compiler = "clang version 16"
	e.expect(t, "another compiler", "scripts", true)
	e.o.Fragments = []string{"CONFIG_EXTRA=y"}
	e.expect(t, "a kconfig fragment", "scripts", true)
	t.Setenv("KCFLAGS", "-O3")
	e.expect(t, "KCFLAGS", "scripts", true)
	e.expect(t, "unchanged again", "scripts", false)

	// An interrupted (here: failed) build leaves no record: the tree
	// built before it is built again, not reused.
	fail := filepath.Join(t.TempDir(), "fail")
	os.WriteFile(fail, []byte("init/main.c:1:1: error: boom\n"), 0o644)
	t.Setenv("FAKE_MAKE_FAIL", fail)
	// The fake make fails before writing anything new: what a Ctrl-C
	// in the middle would leave.
	e.expect(t, "a failed build", "broken", true)
	t.Setenv("FAKE_MAKE_FAIL", "")
	if _, err := os.Stat(filepath.Join(e.o.BuildDir, recordName)); err == nil {
		t.Error("a failed build left a record")
	}
	e.expect(t, "after a failed build", "scripts", true)

	// A worktree that changed under make is not recorded.
	e.now = "elsewhere"
	e.diffs["scripts>c"] = []string{"init/main.c"}
	e.expect(t, "a .c change", "c", true)
	e.now = ""
	e.expect(t, "after a worktree that changed under make", "c", true)

	// An input that is not in the tree (an untracked header) is checked
	// by its size and time.
	e.files = []string{"init/main.c", "Documentation/a.rst"}
	e.diffs["c>c2"] = []string{"init/main.c"}
	e.expect(t, "to record the untracked header", "c2", true)
	e.expect(t, "nothing changed", "c2", false)
	hdr := filepath.Join(e.o.SourceDir, "include/linux/kernel.h")
	later := time.Now().Add(time.Minute)
	os.Chtimes(hdr, later, later)
	e.expect(t, "the untracked header touched", "c2", true)

	// A tree the record names but git no longer knows.
	e.expect(t, "an unknown diff", "gone", true)
}

// TestReuseNeedsRecords: a build whose make wrote no kbuild records is
// never reused (nothing proves what it read).
func TestReuseNeedsRecords(t *testing.T) {
	e := newReuseEnv(t)
	t.Setenv("FAKE_MAKE_NO_CMD", "1")
	e.expect(t, "first build", "t1", true)
	e.expect(t, "the same tree without records", "t1", true)
	if _, err := os.Stat(filepath.Join(e.o.BuildDir, recordName)); err == nil {
		t.Error("a build without kbuild records was recorded")
	}
}

// TestReuseVmlinuxOnly: a build for a boot of vmlinux makes vmlinux only,
// and its record says so: a later build that needs the compressed image
// runs make for it instead of reusing a stale one, MakeImage makes it for
// the very vmlinux the build made (and only that one), and a full build
// serves a vmlinux boot.
func TestReuseVmlinuxOnly(t *testing.T) {
	e := newReuseEnv(t)
	e.o.Fragments = []string{"CONFIG_PVH=y"}
	img := filepath.Join(e.o.BuildDir, "arch/x86/boot/bzImage")
	vmlinux := filepath.Join(e.o.BuildDir, "vmlinux")
	e.diffs["t1>t2"] = []string{"init/main.c"}
	e.diffs["t2>t3"] = []string{"init/main.c"}
	e.diffs["t3>t4"] = []string{"init/main.c"}

	// A classic build first: the compressed image is there.
	e.expect(t, "first build", "t1", true)

	build := func(tree string, vmOnly bool) (*Result, []string) {
		t.Helper()
		e.calls(t)
		o := e.o
		if vmOnly {
			o.VmlinuxIf = "CONFIG_PVH"
		}
		o.Reuse = &Reuse{Compiler: e.compiler, Tree: tree,
			Diff: func(_ context.Context, from, to string) ([]Change, error) {
				var cs []Change
				for _, p := range e.diffs[from+">"+to] {
					cs = append(cs, Change{Path: p})
				}
				return cs, nil
			},
			Files: func(context.Context, string) ([]string, error) { return e.files, nil },
			Now:   func(context.Context) (string, error) { return tree, nil },
		}
		res, err := Build(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		res.Wait()
		return res, e.calls(t)
	}
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "t2")
	res, calls := build("t2", true)
	if !made(calls, "vmlinux") || made(calls, "bzImage") || res.Skipped || !res.VmlinuxOnly || res.KernelImage != vmlinux {
		t.Fatalf("vmlinux-only build: make %q, result %+v; want make vmlinux and vmlinux as the kernel", calls, res)
	}
	if b, _ := os.ReadFile(img); strings.Contains(string(b), "t2") {
		t.Fatal("make vmlinux rewrote the compressed image")
	}
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "")
	if res, calls = build("t2", true); !res.Skipped || !res.VmlinuxOnly || res.KernelImage != vmlinux || len(calls) != 0 {
		t.Errorf("the same tree for a vmlinux boot: make %q, result %+v; want a skip reusing vmlinux", calls, res)
	}
	// A build that needs the compressed image does not reuse the stale one.
	if res, calls = build("t2", false); res.Skipped || res.VmlinuxOnly || res.KernelImage != img || !made(calls, "bzImage") {
		t.Errorf("the same tree for a classic boot: make %q, result %+v; want make bzImage", calls, res)
	}
	if b, _ := os.ReadFile(img); !strings.Contains(string(b), "t2") {
		t.Errorf("the compressed image is %q, not made from t2's vmlinux", b)
	}
	// A full build serves a vmlinux boot (and its image).
	if res, calls = build("t2", true); !res.Skipped || res.VmlinuxOnly || res.KernelImage != img || len(calls) != 0 {
		t.Errorf("after the full build, a vmlinux boot: make %q, result %+v; want a skip with the image", calls, res)
	}

	// MakeImage: the compressed image of the vmlinux just built, and the
	// record updated so the next classic build is a skip.
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "t3")
	res, _ = build("t3", true)
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "")
	o := e.o
	o.VmlinuxIf = "CONFIG_PVH"
	got, err := MakeImage(context.Background(), o, res)
	if calls = e.calls(t); err != nil || got != img || !made(calls, "bzImage") || made(calls, "vmlinux") {
		t.Fatalf("MakeImage = %q, %v (make %q); want make bzImage and %s", got, err, calls, img)
	}
	if b, _ := os.ReadFile(img); !strings.Contains(string(b), "t3") {
		t.Errorf("MakeImage left the image %q, not made from t3's vmlinux", b)
	}
	if res, calls = build("t3", false); !res.Skipped || res.KernelImage != img || len(calls) != 0 {
		t.Errorf("a classic build after MakeImage: make %q, result %+v; want a skip", calls, res)
	}

	// MakeImage refuses when the vmlinux is no longer the build's (the
	// worktree changed and make would compile another kernel).
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "t4")
	res, _ = build("t4", true)
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "t4-edited")
	if got, err = MakeImage(context.Background(), o, res); err == nil {
		t.Errorf("MakeImage over a changed tree = %q; want an error", got)
	}
	t.Setenv("FAKE_MAKE_SOURCE_CHANGED", "")
	if res, calls = build("t4", false); res.Skipped {
		t.Errorf("after a refused MakeImage, a classic build was skipped (make %q)", calls)
	}
}

// made says whether one of make's command lines asks for target.
func made(calls []string, target string) bool {
	for _, c := range calls {
		if strings.Contains(c+" ", " "+target+" ") {
			return true
		}
	}
	return false
}

// TestReuseHeadGuess: the diff against HEAD's tree starts before the
// worktree's tree is read, and counts only when the worktree's tree is
// HEAD's: a dirty worktree's own diff decides.
func TestReuseHeadGuess(t *testing.T) {
	e := newReuseEnv(t)
	e.expect(t, "first build", "t1", true)
	e.diffs["t1>docs"] = []string{"Documentation/a.rst"}
	e.diffs["t1>dirty"] = []string{"init/main.c"}
	build := func(head, tree string) (skipped bool, diffs []string) {
		t.Helper()
		o := e.o
		var mu sync.Mutex
		o.Reuse = &Reuse{Compiler: e.compiler,
			ReadTree: func(context.Context) (string, error) { return tree, nil },
			Head:     func(context.Context) (string, error) { return head, nil },
			Diff: func(_ context.Context, from, to string) ([]Change, error) {
				mu.Lock()
				diffs = append(diffs, from+">"+to)
				mu.Unlock()
				var cs []Change
				for _, p := range e.diffs[from+">"+to] {
					cs = append(cs, Change{Path: p})
				}
				return cs, nil
			},
			Files: func(context.Context, string) ([]string, error) { return e.files, nil },
			Now:   func(context.Context) (string, error) { return tree, nil },
		}
		res, err := Build(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		res.Wait()
		sort.Strings(diffs)
		return res.Skipped, diffs
	}
	if skipped, diffs := build("docs", "docs"); !skipped || fmt.Sprint(diffs) != "[t1>docs]" {
		t.Errorf("a clean docs-only worktree: skipped %t, diffs %q; want a skip on the one diff against HEAD", skipped, diffs)
	}
	// HEAD is docs-only, the worktree changes a built file: make runs.
	if skipped, diffs := build("docs", "dirty"); skipped || !strings.Contains(fmt.Sprint(diffs), "t1>dirty") {
		t.Errorf("a dirty worktree over a docs-only HEAD: skipped %t, diffs %q; want make, decided on the worktree's diff", skipped, diffs)
	}
}
