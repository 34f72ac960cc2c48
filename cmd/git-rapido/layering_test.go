package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/git-rapido/git-rapido"

// A layering rule: packages matching pkgs may not import anything matching
// forbid, directly (direct) or through any chain of imports.
type layerRule struct {
	pkgs   []string
	direct bool
	forbid []string
	why    string
}

// The layout of ARCHITECTURE.md, as far as imports can say it. A pattern
// ending in "/..." matches that path and everything below it; "." stands
// for the module path.
var layerRules = []layerRule{
	{
		pkgs:   []string{"./trailers", "./trailers/attest"},
		forbid: []string{"os/exec", "os/signal", "os/user", "net/...", "github.com/go-git/...", "./cmd/...", "./vmrun/...", "./rebase/...", "./bisect/...", "./hooks/..."},
		why:    "the trailer engine is pure: no processes, no network, no repository access, nothing of git rapido but itself",
	},
	{
		// The mail reader parses with net/mail and net/textproto, which
		// pull in package net for address types; it may not import a
		// network package itself.
		pkgs:   []string{"./trailers/mbox"},
		forbid: []string{"os/exec", "os/signal", "os/user", "net/http/...", "net/rpc/...", "net/smtp", "crypto/tls", "github.com/go-git/...", "./cmd/...", "./vmrun/...", "./rebase/...", "./bisect/...", "./hooks/..."},
		why:    "the mail reader is pure: no processes, no network client, no repository access",
	},
	{
		pkgs:   []string{"./trailers/mbox"},
		direct: true,
		forbid: []string{"net"},
		why:    "the mail reader parses mail; it opens no connection",
	},
	{
		pkgs:   []string{"./trailers/..."},
		direct: true,
		forbid: []string{"os", "syscall", "io/ioutil", "path/filepath"},
		why:    "the trailer engine reads and writes through io.Reader/io.Writer its callers give it, never the file system",
	},
	{
		pkgs:   []string{"./vmrun/...", "./rebase/...", "./bisect/...", "./hooks/...", "./trailers/..."},
		forbid: []string{"./cmd/..."},
		why:    "domain packages declare the interfaces they need (vmrun.Execer, rebase.Git...); cmd injects gitexec, never the reverse",
	},
	{
		pkgs:   []string{"./..."},
		forbid: []string{"./cmd/internal/fakemake", "./cmd/internal/fakeqemu", "./cmd/internal/fakevirtiofsd"},
		why:    "the fakes of the hermetic tier are for _test.go files only",
	},
}

// goPackage is what go list -json says of a package (tests excluded).
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func match(pattern, path string) bool {
	if rest, ok := strings.CutPrefix(pattern, "."); ok && (rest == "" || rest[0] == '/') {
		pattern = module + rest
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}

// TestLayering fails when a package imports across the layout: run
// "go list -deps" over the module and check every edge against layerRules.
func TestLayering(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-json", module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := decodePackages(t, out)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; want the whole module", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// violations lists every edge of pkgs that a layering rule forbids.
func violations(pkgs []goPackage) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range layerRules {
			if !matchAny(r.pkgs, p.ImportPath) {
				continue
			}
			edges, how := p.Deps, "depends on"
			if r.direct {
				edges, how = p.Imports, "imports"
			}
			for _, d := range edges {
				if matchAny(r.forbid, d) {
					out = append(out, strings.TrimPrefix(p.ImportPath, module+"/")+" "+how+" "+d+": "+r.why)
				}
			}
		}
	}
	return out
}

func decodePackages(t *testing.T, out []byte) []goPackage {
	t.Helper()
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// The rules match what they say: a check of the checker.
func TestLayerMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"./cmd/...", module + "/cmd/internal/gitexec", true},
		{"./cmd/...", module + "/cmdx", false},
		{"net/...", "net", true},
		{"net/...", "net/http", true},
		{"net/...", "netip", false},
		{"os", "os/exec", false},
		{"os", "os", true},
		{"./...", module, true},
	} {
		if got := match(c.pattern, c.path); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

// Edges Go itself would also refuse (cmd/internal is internal) are still
// caught by the rules, should the layout ever move them.
func TestLayerViolations(t *testing.T) {
	pkgs := []goPackage{
		{ImportPath: module + "/vmrun", Deps: []string{"fmt", module + "/cmd/internal/gitexec"}},
		{ImportPath: module + "/trailers/attest", Imports: []string{"bytes", "os"}, Deps: []string{"os", "github.com/go-git/go-git/v5"}},
		{ImportPath: module + "/cmd/internal/cli", Deps: []string{module + "/cmd/internal/gitexec", "os/exec"}},
	}
	got := strings.Join(violations(pkgs), "\n")
	for _, want := range []string{
		"vmrun depends on " + module + "/cmd/internal/gitexec",
		"trailers/attest imports os",
		"trailers/attest depends on github.com/go-git/go-git/v5",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations:\n%s\nlack %q", got, want)
		}
	}
	if strings.Contains(got, "cmd/internal/cli") {
		t.Errorf("the CLI may use gitexec and os/exec:\n%s", got)
	}
}
