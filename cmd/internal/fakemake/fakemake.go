// Package fakemake is a test double for make, registered as "fake-make" in
// the hermetic CLI tier. It answers the targets git rapido's kernel build
// calls, writes a stand-in kernel image that names a scenario for fake-qemu,
// and fails like a compiler when the scenario is "build-fail" (or on a full
// disk when it is "disk-full"). Only
// _test.go files may import it.
//
// The scenario is $FAKE_MAKE_SCENARIO, else the first word of the file
// "rapido-scenario" at the top of the source tree, else "pass".
//
// When the tree has a file "fake-objects" (one .c path a line), the image
// target "compiles" each of them as kbuild would record it: a
// .<name>.o.cmd file in the build directory with the source_ and deps_
// lists (the .c and the files it names in #include "path" lines, paths
// from the top of the tree), and the image holds a hash of those files.
package fakemake

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Main is the fake's entry point.
func Main() {
	args := os.Args[1:]
	if log := os.Getenv("FAKE_MAKE_LOG"); log != "" {
		f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, "make "+strings.Join(args, " "))
			// ccache's launcher travels in the environment, not in argv.
			if p := os.Getenv("CCACHE_PREFIX"); p != "" {
				fmt.Fprintln(f, "env CCACHE_PREFIX="+p)
			}
			f.Close()
		}
	}
	src, out, arch := ".", ".", "x86"
	var targets []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-C" && i+1 < len(args):
			src = args[i+1]
			i++
		case strings.HasPrefix(a, "O="):
			out = strings.TrimPrefix(a, "O=")
		case strings.HasPrefix(a, "ARCH="):
			arch = strings.TrimPrefix(a, "ARCH=")
		case strings.HasPrefix(a, "-") || strings.Contains(a, "="):
		default:
			targets = append(targets, a)
		}
	}
	scenario := os.Getenv("FAKE_MAKE_SCENARIO")
	if scenario == "" {
		if b, err := os.ReadFile(filepath.Join(src, "rapido-scenario")); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				scenario = f[0]
			}
		}
	}
	if scenario == "" {
		scenario = "pass"
	}
	// Lines "warning <text>" in rapido-scenario become compiler warnings
	// of fs/proc/cmdline.c, as gcc prints them.
	var warnings []string
	if b, err := os.ReadFile(filepath.Join(src, "rapido-scenario")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if w, ok := strings.CutPrefix(l, "warning "); ok {
				warnings = append(warnings, w)
			}
		}
	}
	for _, t := range targets {
		switch t {
		case "tinyconfig", "defconfig", "x86_64_defconfig":
			must(os.WriteFile(filepath.Join(out, ".config"), []byte("CONFIG_64BIT=y\n# base "+t+"\n"), 0o644))
		case "olddefconfig":
			// Keep what git rapido merged: every requested option "takes".
		case "bzImage", "Image":
			defer busy("make")()
			fmt.Println("  CC      fs/proc/version.o")
			fmt.Println("  CC      fs/proc/cmdline.o")
			for i, w := range warnings {
				fmt.Fprintf(os.Stderr, "fs/proc/cmdline.c:%d:5: warning: %s\n", 10+i, w)
			}
			if scenario == "build-fail" {
				fmt.Fprintln(os.Stderr, "fs/proc/cmdline.c:32:30: error: expected expression before ';' token")
				fmt.Fprintln(os.Stderr, "make[3]: *** [scripts/Makefile.build:250: fs/proc/cmdline.o] Error 1")
				fmt.Fprintln(os.Stderr, "make: *** [Makefile:2012: .] Error 2")
				os.Exit(2)
			}
			if scenario == "disk-full" {
				fmt.Fprintln(os.Stderr, "fs/proc/version.c:20:1: fatal error: error writing to /tmp/ccQx1.s: No space left on device")
				fmt.Fprintln(os.Stderr, "make[3]: *** [scripts/Makefile.build:250: fs/proc/version.o] Error 1")
				os.Exit(2)
			}
			sum := compileObjects(src, out)
			fmt.Println("  LD      vmlinux")
			fmt.Println("  BUILD   arch/" + arch + "/boot/" + t)
			img := filepath.Join(out, "arch", arch, "boot", t)
			must(os.MkdirAll(filepath.Dir(img), 0o755))
			must(os.WriteFile(img, []byte(sum+"fake-kernel scenario="+scenario+"\n"), 0o644))
			must(os.MkdirAll(filepath.Join(out, "include/config"), 0o755))
			must(os.WriteFile(filepath.Join(out, "include/config/kernel.release"), []byte("6.1.0-fake\n"), 0o644))
		case "modules":
			must(os.WriteFile(filepath.Join(out, "modules.order"), nil, 0o644))
		case "kernelrelease":
			fmt.Println("6.1.0-fake")
		default:
			fmt.Fprintf(os.Stderr, "fake-make: *** No rule to make target '%s'.  Stop.\n", t)
			os.Exit(2)
		}
	}
}

// busy sleeps $FAKE_BUSY (a duration: the model of a build or a boot) and
// appends "<what> <start ns> <end ns>" to $FAKE_BUSY_LOG when the caller
// returns: tests count how many makes and QEMUs overlapped.
func busy(what string) func() {
	start := time.Now()
	if d, err := time.ParseDuration(os.Getenv("FAKE_BUSY")); err == nil {
		time.Sleep(d)
	}
	return func() {
		if log := os.Getenv("FAKE_BUSY_LOG"); log != "" {
			if f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintf(f, "%s %d %d\n", what, start.UnixNano(), time.Now().UnixNano())
				f.Close()
			}
		}
	}
}

// compileObjects writes kbuild's dependency records for the objects
// listed in <src>/fake-objects and returns "objects=<hash of their
// inputs> " ("" without the list).
func compileObjects(src, out string) string {
	list, err := os.ReadFile(filepath.Join(src, "fake-objects"))
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(src)
	must(err)
	h := sha256.New()
	for _, c := range strings.Fields(string(list)) {
		obj := strings.TrimSuffix(c, ".c") + ".o"
		fmt.Println("  CC      " + obj)
		deps := []string{c}
		text, err := os.ReadFile(filepath.Join(src, c))
		must(err)
		for _, l := range strings.Split(string(text), "\n") {
			if inc, ok := strings.CutPrefix(strings.TrimSpace(l), "#include \""); ok {
				deps = append(deps, strings.TrimSuffix(inc, "\""))
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "savedcmd_%s := gcc -c -o %s %s\n\nsource_%s := %s\n\ndeps_%s := \\\n", obj, obj, filepath.Join(abs, c), obj, filepath.Join(abs, c), obj)
		for _, d := range deps {
			fmt.Fprintf(&b, "  %s \\\n", filepath.Join(abs, d))
			data, _ := os.ReadFile(filepath.Join(src, d))
			fmt.Fprintf(h, "%s %x\n", d, sha256.Sum256(data))
		}
		fmt.Fprintf(&b, "  $(wildcard include/config/FAKE) \\\n\n%s: $(deps_%s)\n\n$(deps_%s):\n", obj, obj, obj)
		cmd := filepath.Join(out, filepath.Dir(obj), "."+filepath.Base(obj)+".cmd")
		must(os.MkdirAll(filepath.Dir(cmd), 0o755))
		must(os.WriteFile(cmd, []byte(b.String()), 0o644))
		must(os.WriteFile(filepath.Join(out, obj), nil, 0o644))
	}
	return fmt.Sprintf("objects=%.16x ", h.Sum(nil))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-make:", err)
		os.Exit(2)
	}
}
