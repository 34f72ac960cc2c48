package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
	"github.com/git-rapido/git-rapido/vmrun/cache"
)

// BenchmarkReport50 runs git rapido report over 50 commits whose trees all
// have a verdict note, next to git rapido log over the same range (the
// command whose data it reads): the goal is well under a second.
func BenchmarkReport50(b *testing.B) {
	dir := b.TempDir()
	b.Setenv("HOME", dir)
	b.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	b.Setenv("XDG_CONFIG_HOME", dir+"/.config")
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir + "/repo"
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "init", "-q", dir+"/repo").CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	git("", "config", "user.name", "B Ench")
	git("", "config", "user.email", "bench@example.org")
	git("", "commit", "-q", "--allow-empty", "-m", "base")
	git("", "tag", "base")
	// Sealed as this user's own, so every verdict is trusted and the
	// report renders its timings.
	local, err := cache.LoadLocal("bench@example.org", Version(), dir+"/.config/git-rapido/verdict-seal")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		git(fmt.Sprintf("%d\n", i), "hash-object", "-w", "--stdin")
		cmd := exec.Command("sh", "-c", fmt.Sprintf("echo %d >f && git add f && git commit -q -m 'step %d'", i, i))
		cmd.Dir = dir + "/repo"
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		tree := git("", "rev-parse", "HEAD^{tree}")
		e := cache.Entry{Spec: "s", Tree: tree, Status: "pass", Reason: "test passed", Duration: 3 * time.Second,
			Timings: json.RawMessage(`{"build":2000000000,"cut":100000000,"kernel_boot":500000000,"init":100000000,"test":300000000}`),
			Time:    time.Unix(1700000000, 0).UTC(), Accel: "tcg", Described: []string{"arch: x86"}, Release: "6.1.0"}
		local.Stamp(&e)
		note, _ := json.Marshal(e)
		git(string(note), "notes", "--ref=refs/notes/rapido", "add", "-f", "-F", "-", tree)
	}
	run := func(b *testing.B, args ...string) {
		for b.Loop() {
			env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: os.Getenv, Runner: &gitexec.Runner{Dir: dir + "/repo"}, DashAt: -1}
			if code := Run(context.Background(), env, args); code != 0 {
				b.Fatalf("git rapido %v: exit %d", args, code)
			}
		}
	}
	env := &Env{Stdout: &strings.Builder{}, Stderr: io.Discard, Getenv: os.Getenv, Runner: &gitexec.Runner{Dir: dir + "/repo"}, DashAt: -1}
	if Run(context.Background(), env, []string{"report", "base..HEAD"}) != 0 || strings.Count(env.Stdout.(*strings.Builder).String(), "| pass (cached) |") != 50 {
		b.Fatalf("the report does not show 50 passes:\n%s", env.Stdout)
	}
	b.Run("log", func(b *testing.B) { run(b, "log", "base..HEAD") })
	b.Run("report-markdown", func(b *testing.B) { run(b, "report", "base..HEAD") })
	b.Run("report-html", func(b *testing.B) { run(b, "report", "--format=html", "base..HEAD") })
}
