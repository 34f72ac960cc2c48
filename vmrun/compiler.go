package vmrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// compilerName is the C compiler kbuild will call for o, as make would
// pick it: CC (past a ccache-like launcher), else clang for LLVM=1,
// LLVM=-VER or LLVM=PREFIX/, else $(CROSS_COMPILE)gcc.
func compilerName(o BuildOptions) string {
	if f := strings.Fields(o.CC); len(f) > 0 {
		for _, w := range f {
			switch filepath.Base(w) {
			case "ccache", "sccache", "distcc", "icecc":
				continue
			}
			return w
		}
	}
	switch {
	case o.LLVM == "":
		return o.CrossCompile + "gcc"
	case strings.HasSuffix(o.LLVM, "/"):
		return o.LLVM + "clang"
	case strings.HasPrefix(o.LLVM, "-"):
		return "clang" + o.LLVM
	}
	return "clang"
}

// compilerTimeout bounds "$CC --version": a compiler answers at once.
const compilerTimeout = 10 * time.Second

// compilerIdentity is the first line the compiler prints for --version
// ("gcc (Debian 12.2.0-14) 12.2.0"): the same compiler on two machines
// says the same, whatever its path. The answer is remembered per binary
// path, size and modification time in the cache directory, so a cache hit
// starts no process. A compiler that is not installed is named as such:
// such a machine cannot build, and its key matches no real verdict.
func compilerIdentity(o BuildOptions, x Execer) string {
	name := compilerName(o)
	invoke, path, err := lookCompiler(name)
	if err != nil {
		return name + " (not found)"
	}
	fi, err := os.Stat(path)
	if err != nil {
		return name + " (not found)"
	}
	stamp := fmt.Sprintf("%s %d %d", path, fi.Size(), fi.ModTime().UnixNano())
	file := filepath.Join(CacheHome(), "compilers.json")
	known := map[string]string{}
	if b, err := os.ReadFile(file); err == nil {
		json.Unmarshal(b, &known)
	}
	if id, ok := known[stamp]; ok {
		return id
	}
	id, err := askVersion(invoke, x)
	if err != nil {
		return name + " (--version failed)"
	}
	known[stamp] = id
	if b, err := json.MarshalIndent(known, "", "  "); err == nil {
		writeFileAtomic(file, append(b, '\n'))
	}
	return id
}

// launchers are programs that stand in for a compiler (ccache's
// masquerade directory links gcc to ccache): their size and time do not
// change when the real compiler is upgraded.
var launchers = map[string]bool{"ccache": true, "sccache": true, "distcc": true, "icecc": true}

// lookCompiler finds the compiler: the path to run it by and the binary
// itself, symlinks resolved, whose size and time stand for its version.
// For a bare name it is the first one in PATH that is not a launcher, as
// the launcher itself would find it.
func lookCompiler(name string) (invoke, real string, err error) {
	resolve := func(p string) (string, bool) {
		abs, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", false
		}
		fi, err := os.Stat(abs)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 || launchers[filepath.Base(abs)] {
			return "", false
		}
		return abs, true
	}
	if strings.Contains(name, "/") {
		if r, ok := resolve(name); ok {
			return name, r, nil
		}
		return "", "", exec.ErrNotFound
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if r, ok := resolve(p); ok {
			return p, r, nil
		}
	}
	return "", "", exec.ErrNotFound
}

// askVersion runs "compiler --version" through the runner and returns its
// first line.
func askVersion(path string, x Execer) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), compilerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := execer(x).Run(cmd); err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s --version: no output", path)
	}
	// gcc starts with the name it was called by (gcc, gcc-12,
	// aarch64-linux-gnu-gcc): the same compiler under any name is one.
	if rest, ok := strings.CutPrefix(line, filepath.Base(path)+" "); ok {
		line = rest
	}
	return line, nil
}

// writeFileAtomic replaces file, so that two runs never leave half a file.
func writeFileAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(file), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	os.Chmod(f.Name(), 0o644)
	return os.Rename(f.Name(), file)
}

// plainExec runs commands directly, for callers that pass no runner.
type plainExec struct{}

func (plainExec) Run(c *exec.Cmd) error { return c.Run() }

func execer(x Execer) Execer {
	if x == nil {
		return plainExec{}
	}
	return x
}

// Tracer prints a command line under GIT_TRACE; *gitexec.Runner
// satisfies it. Processes that vmrun must start itself (QEMU and a cut's
// host hooks, which outlive a Run call or need their own process group)
// are traced through it, so GIT_TRACE=1 shows every process a run starts.
type Tracer interface{ TraceArgs(argv []string) }

// tracer returns x's trace, or one that prints nothing.
func tracer(x Execer) func([]string) {
	if t, ok := x.(Tracer); ok {
		return t.TraceArgs
	}
	return func([]string) {}
}

// traceQEMU traces QEMU's command line before it starts.
func traceQEMU(qc qemu.Config, args []string) {
	if qc.Trace != nil {
		qc.Trace(append([]string{qc.Binary}, args...))
	}
}
