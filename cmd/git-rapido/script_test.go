package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/git-rapido/git-rapido/cmd/internal/cli"
	"github.com/git-rapido/git-rapido/cmd/internal/fakemake"
	"github.com/git-rapido/git-rapido/cmd/internal/fakeqemu"
	"github.com/git-rapido/git-rapido/cmd/internal/fakevirtiofsd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/script")

// TestMain registers git-rapido (and the fakes for the expensive external
// tools) as real executables on PATH, so scripts run "exec git rapido ..."
// through git's own dispatch, exactly as a user's shell does.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"git-rapido": func() { os.Exit(cli.Main(os.Args)) },
		// The same binary under the name the VM image gives it.
		"init":           func() { os.Exit(cli.Main(os.Args)) },
		"fake-qemu":      fakeqemu.Main,
		"fake-make":      fakemake.Main,
		"fake-virtiofsd": fakevirtiofsd.Main,
	})
}

// TestScript runs the hermetic CLI tier: real git (and gpg where a script
// asks for it) in a private HOME, never the host's configuration.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		Setup:               setupEnv,
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds:                map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": exitcode, "overlap": overlap},
		// [root]: QEMU's C virtiofsd and the read-only bind mount in
		// front of it run only as root; a script needing them says so.
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// exitcode runs a program and requires an exact exit status:
//
//	exitcode 125 git rapido run
//
// Its stdout and stderr are kept for the stdout/stderr checks that follow.
func exitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// overlap checks the most intervals of one kind that were running at
// once in a $FAKE_BUSY_LOG file ("<kind> <start ns> <end ns>" lines):
//
//	overlap $WORK/busy.log make 2
//
// requires exactly 2 (never more, and the parallelism really happened).
func overlap(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: overlap file kind n")
	}
	want, err := strconv.Atoi(args[2])
	if err != nil {
		ts.Fatalf("overlap: bad count %q", args[2])
	}
	type edge struct {
		t     int64
		delta int
	}
	var edges []edge
	for _, l := range strings.Split(ts.ReadFile(args[0]), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != args[1] {
			continue
		}
		s, _ := strconv.ParseInt(f[1], 10, 64)
		e, _ := strconv.ParseInt(f[2], 10, 64)
		edges = append(edges, edge{s, 1}, edge{e, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].t != edges[j].t {
			return edges[i].t < edges[j].t
		}
		return edges[i].delta < edges[j].delta // an end before a start at the same instant
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	if most != want {
		ts.Fatalf("at most %d %s(s) ran at once, want %d (%d intervals)", most, args[1], want, len(edges)/2)
	}
}

// setupEnv pins everything that would make object ids or output depend on the
// machine: identity, dates, time zone, locale, and the user's git config.
func setupEnv(e *testscript.Env) error {
	home := filepath.Join(e.WorkDir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	for k, v := range map[string]string{
		"REPO_ROOT":           root,
		"HOME":                home,
		"XDG_CONFIG_HOME":     filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":      filepath.Join(home, ".cache"),
		"GNUPGHOME":           filepath.Join(home, ".gnupg"),
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "A U Thor",
		"GIT_AUTHOR_EMAIL":    "author@example.com",
		"GIT_AUTHOR_DATE":     "1700000000 +0000",
		"GIT_COMMITTER_NAME":  "C O Mitter",
		"GIT_COMMITTER_EMAIL": "committer@example.com",
		"GIT_COMMITTER_DATE":  "1700000000 +0000",
		"GIT_TRACE":           "",
		"GIT_EDITOR":          "false",
		"EDITOR":              "false",
		"TZ":                  "UTC",
		"LC_ALL":              "C",
		"TERM":                "dumb",
		// Shares go over 9p unless a script names a virtiofsd: the
		// host's own is no input of the hermetic tier.
		"RAPIDO_VIRTIOFSD": filepath.Join(e.WorkDir, "no-virtiofsd"),
	} {
		e.Setenv(k, v)
	}
	// A script that builds git-rapido (cache_portable.txtar) uses the
	// host's Go caches, read before HOME moved: offline and warm.
	for k, v := range hostGoEnv() {
		e.Setenv(k, v)
	}
	return nil
}

var (
	goEnvOnce sync.Once
	goEnv     map[string]string
)

// hostGoEnv is the go command's cache locations in the real HOME, with
// the module proxy off so that no script reaches the network.
func hostGoEnv() map[string]string {
	goEnvOnce.Do(func() {
		goEnv = map[string]string{"GOPROXY": "off", "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
		out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE").Output()
		if err != nil {
			return
		}
		if f := strings.Split(strings.TrimSpace(string(out)), "\n"); len(f) == 2 {
			goEnv["GOCACHE"], goEnv["GOMODCACHE"] = f[0], f[1]
		}
	})
	return goEnv
}
