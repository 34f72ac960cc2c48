package hooks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInstallChainsAndUninstallRestores(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	if s := Status(dir, "pre-push"); s != Absent {
		t.Fatalf("status %s", s)
	}
	if chained, err := Install(dir, "pre-push"); err != nil || chained {
		t.Fatalf("install into nothing: chained=%v err=%v", chained, err)
	}
	if s := Status(dir, "pre-push"); s != Installed {
		t.Fatalf("status %s", s)
	}
	fi, _ := os.Stat(filepath.Join(dir, "pre-push"))
	if fi.Mode()&0o111 == 0 {
		t.Fatal("shim is not executable")
	}
	if restored, err := Uninstall(dir, "pre-push"); err != nil || restored {
		t.Fatalf("uninstall: %v %v", restored, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pre-push")); !os.IsNotExist(err) {
		t.Fatal("shim left behind")
	}

	user := "#!/bin/sh\necho user hook\n"
	os.WriteFile(filepath.Join(dir, "post-rewrite"), []byte(user), 0o755)
	if s := Status(dir, "post-rewrite"); s != Foreign {
		t.Fatalf("status %s", s)
	}
	if chained, err := Install(dir, "post-rewrite"); err != nil || !chained {
		t.Fatalf("install over a user hook: chained=%v err=%v", chained, err)
	}
	if s := Status(dir, "post-rewrite"); s != Chained {
		t.Fatalf("status %s", s)
	}
	if got := ChainedHook(dir, "post-rewrite"); got != filepath.Join(dir, "post-rewrite"+ChainSuffix) {
		t.Fatalf("chained hook %q", got)
	}
	// Installing again neither chains the shim to itself nor loses the hook.
	if chained, err := Install(dir, "post-rewrite"); err != nil || chained {
		t.Fatalf("second install: %v %v", chained, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "post-rewrite"+ChainSuffix)); string(b) != user {
		t.Fatalf("chained hook is now %q", b)
	}
	if restored, err := Uninstall(dir, "post-rewrite"); err != nil || !restored {
		t.Fatalf("uninstall: %v %v", restored, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "post-rewrite")); string(b) != user {
		t.Fatalf("restored hook is %q", b)
	}
	// A foreign hook is never removed by uninstall.
	if restored, err := Uninstall(dir, "post-rewrite"); err != nil || restored {
		t.Fatal("uninstall touched a foreign hook")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "post-rewrite")); string(b) != user {
		t.Fatal("foreign hook changed")
	}
	if _, err := Install(dir, "pre-commit"); err == nil {
		t.Fatal("installed an unknown hook")
	}
}

func TestInstallRefusesWhenBothExist(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pre-push"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "pre-push"+ChainSuffix), []byte("#!/bin/sh\nold\n"), 0o755)
	if _, err := Install(dir, "pre-push"); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("err %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pre-push"+ChainSuffix)); string(b) != "#!/bin/sh\nold\n" {
		t.Fatal("chained hook overwritten")
	}
}

func TestParseHookInput(t *testing.T) {
	z := strings.Repeat("0", 40)
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	us, err := ParsePrePush(strings.NewReader("refs/heads/x " + a + " refs/heads/main " + z + "\n\n"))
	if err != nil || !reflect.DeepEqual(us, []Update{{Ref: "refs/heads/main", Old: z, New: a}}) {
		t.Fatalf("%+v %v", us, err)
	}
	us, err = ParsePreReceive(strings.NewReader(b + " " + a + " refs/heads/main\n"))
	if err != nil || !reflect.DeepEqual(us, []Update{{Ref: "refs/heads/main", Old: b, New: a}}) {
		t.Fatalf("%+v %v", us, err)
	}
	if _, err := ParsePreReceive(strings.NewReader("x y\n")); err == nil {
		t.Fatal("bad line accepted")
	}
	// Ids reach git as arguments: an option in their place is refused.
	if _, err := ParsePreReceive(strings.NewReader(b + " --output=x refs/heads/main\n")); err == nil {
		t.Fatal("an option accepted as an object id")
	}
	if _, err := ParsePrePush(strings.NewReader("refs/heads/x --all refs/heads/main " + z + "\n")); err == nil {
		t.Fatal("an option accepted as an object id")
	}
	rw, err := ParseRewrites(strings.NewReader(a + " " + b + "\n" + b + " " + a + " extra\n"))
	if err != nil || len(rw) != 2 || rw[1] != [2]string{b, a} {
		t.Fatalf("%v %v", rw, err)
	}
	if !ZeroID(z) || ZeroID(a) || ZeroID("") {
		t.Fatal("ZeroID")
	}
}

func TestPolicy(t *testing.T) {
	r, err := ParseRule("Tested-by:refs/heads/main")
	if err != nil || r != (Rule{Key: "Tested-by", Ref: "refs/heads/main"}) {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseRule(":refs/x"); err == nil {
		t.Fatal("empty key accepted")
	}
	if _, err := ParseRule("Tested-by:refs/[x"); err == nil {
		t.Fatal("bad glob accepted")
	}
	p := &Policy{Require: []Rule{{Key: "Tested-by", Ref: "refs/heads/*"}}, Allow: []string{"unsigned"}}
	vs := map[string][]Verdict{
		"c1": {{Key: "tested-by", Value: "T", Status: "ok"}},
		"c2": {{Key: "Tested-by", Value: "T", Status: "stale", Reason: "code changed"}},
		"c3": {{Key: "Tested-by", Value: "T", Status: "unsigned"}},
		"c4": {{Key: "Reviewed-by", Value: "R", Status: "unknown-key"}},
	}
	got := p.Check("refs/heads/main", []string{"c1", "c2", "c3", "c4"}, vs)
	var msgs []string
	for _, v := range got {
		msgs = append(msgs, v.Commit+" "+v.Msg)
	}
	want := []string{
		"c2 stale: Tested-by: T: code changed",
		"c2 missing: no signed Tested-by verdict (required on refs/heads/*)",
		"c3 missing: no signed Tested-by verdict (required on refs/heads/*)",
		"c4 unknown-key: Reviewed-by: R",
		"c4 missing: no signed Tested-by verdict (required on refs/heads/*)",
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Fatalf("got\n%q\nwant\n%q", msgs, want)
	}
	// The rule does not apply to tags; the stale verdict still does.
	if got := p.Check("refs/tags/v1", []string{"c1", "c2", "c3"}, vs); len(got) != 1 {
		t.Fatalf("%+v", got)
	}
}

func TestSettledAndCheckObject(t *testing.T) {
	p := &Policy{Require: []Rule{{Key: "Tested-by", Ref: "refs/heads/main"}, {Key: "tested-by", Ref: "refs/tags/v*"},
		{Key: "Reviewed-by", Ref: "refs/heads/stable"}}}
	if got := p.Required("refs/tags/v1"); !reflect.DeepEqual(got, []string{"tested-by"}) {
		t.Fatalf("required %q", got)
	}
	tips := []Tip{{"refs/heads/main", "m"}, {"refs/heads/wip", "w"}, {"refs/tags/v0", "t"}, {"refs/heads/stable", "s"}}
	// What reaches main was checked for Tested-by when it got there; wip
	// was never checked, stable for another verdict only.
	for ref, want := range map[string][]string{
		"refs/heads/main":   {"m", "t"},
		"refs/tags/v2":      {"m", "t"},
		"refs/heads/stable": {"s"},
		"refs/heads/other":  {"m", "w", "t", "s"},
	} {
		if got := p.Settled(ref, tips); !reflect.DeepEqual(got, want) {
			t.Errorf("settled for %s: %q, want %q", ref, got, want)
		}
	}
	vs := p.CheckObject("refs/tags/v2", "abc", "tree")
	if len(vs) != 1 || vs[0].Msg != "missing: points to a tree, not a commit: no tested-by verdict can be checked (required on refs/tags/v*)" {
		t.Fatalf("%+v", vs)
	}
	if vs := p.CheckObject("refs/tags/x", "abc", "blob"); len(vs) != 0 {
		t.Fatalf("an unprotected ref: %+v", vs)
	}
}

type realGit struct{ dir string }

func (g realGit) Git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	out, err := cmd.Output()
	return strings.TrimSuffix(string(out), "\n"), err
}

func TestNewCommits(t *testing.T) {
	dir := t.TempDir()
	g := realGit{dir}
	ctx := context.Background()
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("HOME", dir)
	for _, a := range [][]string{{"init", "-q"}, {"-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", "1"},
		{"-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", "2"}} {
		if _, err := g.Git(ctx, a...); err != nil {
			t.Fatal(a, err)
		}
	}
	head, _ := g.Git(ctx, "rev-parse", "HEAD")
	first, _ := g.Git(ctx, "rev-parse", "HEAD~")
	cs, err := NewCommits(ctx, g, Update{Ref: "refs/heads/x", Old: first, New: head})
	if err != nil || !reflect.DeepEqual(cs, []string{head}) {
		t.Fatalf("%v %v", cs, err)
	}
	cs, _ = NewCommits(ctx, g, Update{Ref: "refs/heads/x", Old: strings.Repeat("0", 40), New: head})
	if len(cs) != 2 {
		t.Fatalf("%v", cs)
	}
	cs, _ = NewCommits(ctx, g, Update{Ref: "refs/heads/x", Old: strings.Repeat("0", 40), New: head}, "--all")
	if len(cs) != 0 {
		t.Fatalf("--all excluded nothing: %v", cs)
	}
	// An old value this repository does not have is left out instead of
	// failing the push.
	cs, err = NewCommits(ctx, g, Update{Ref: "refs/heads/x", Old: strings.Repeat("ab", 20), New: head}, first)
	if err != nil || !reflect.DeepEqual(cs, []string{head}) {
		t.Fatalf("%v %v", cs, err)
	}
	if cs, _ := NewCommits(ctx, g, Update{Ref: "refs/heads/x", Old: head, New: strings.Repeat("0", 40)}); cs != nil {
		t.Fatal("a deletion brings commits")
	}
}

func FuzzParseHookInput(f *testing.F) {
	f.Add("refs/heads/x a refs/heads/y b\n")
	f.Add("a b refs/heads/main\n")
	f.Add("Tested-by:refs/heads/[")
	f.Fuzz(func(t *testing.T, s string) {
		us, err := ParsePrePush(strings.NewReader(s))
		if err == nil {
			for _, u := range us {
				if u.Ref == "" || u.New == "" {
					t.Fatalf("empty field in %+v", u)
				}
			}
		}
		ParsePreReceive(strings.NewReader(s))
		ParseRewrites(strings.NewReader(s))
		if r, err := ParseRule(s); err == nil && r.Key == "" {
			t.Fatal("rule without a key")
		}
	})
}
