package kbuild

import (
	"fmt"
	"path"
	"strings"
)

// SkipNote is what the progress, the verdict and --timings say when the
// last build's kernel is reused without running make.
const SkipNote = "build skipped: no kernel input changed"

// compilerRead are the kinds of source file only a compiler (or dtc,
// rustc) reads, and every reader of them records what it read (fixdep,
// gcc -MD, dtc -d, rustc --emit=dep-info). A file of such a kind that no
// record names was not read by the build.
var compilerRead = map[string]bool{
	".c": true, ".h": true, ".S": true, ".s": true, ".rs": true, ".dts": true, ".dtsi": true,
}

// notRead are the files at the top of a kernel tree that no build
// reads. Every other top-level file (Makefile, Kconfig, Kbuild,
// localversion*, .scmversion...) may be.
var notRead = map[string]bool{
	"MAINTAINERS": true, "CREDITS": true, "README": true, "COPYING": true,
	".mailmap": true, ".gitignore": true, ".gitattributes": true, ".clang-format": true,
	".cocciconfig": true, ".get_maintainer.ignore": true,
}

// readByMake are the directories whose files make rules read directly
// (not through a compiler): the initramfs lists and gen_init_cpio (usr/),
// signing keys (certs/), built-in firmware (firmware/), the build's own
// scripts and tools (scripts/), generated configuration (include/config,
// include/generated: never in a tree, but never to be ignored either).
// tools/build and tools/scripts are the build system of the tools the
// kernel build makes on the way (objtool, resolve_btfids).
var readByMake = []string{"scripts/", "usr/", "certs/", "firmware/", "include/config/", "include/generated/",
	"tools/build/", "tools/scripts/"}

// Change is a path that differs between the tree last built and the
// tree to build; Added says it was not in the first.
type Change struct {
	Path  string
	Added bool
}

// Decide says whether a change of the source tree can change the kernel
// whose build read inputs: "" when no changed path can (the build may be
// skipped), else why make must run. It is exact in the conservative
// direction: a path is let through only when the records prove no
// reader of it ran. changed are paths relative to the top of the tree
// (git diff --name-status, renames as a deletion and an addition); headers
// says every header is read (CONFIG_IKHEADERS packs them all).
func Decide(inputs []string, changed []Change, headers bool) string {
	if len(inputs) == 0 {
		return "no record of the last build's inputs"
	}
	in := make(map[string]bool, len(inputs))
	areas, names := map[string]bool{}, map[string]bool{}
	for _, p := range inputs {
		in[p] = true
		names[path.Base(p)] = true
		// Every enclosing area counts: a make rule in drivers/Makefile
		// may read drivers/x.txt when only drivers/tty has objects.
		if a := area(p); a != "" {
			areas[a] = true
			if top, _, ok := strings.Cut(a, "/"); ok {
				areas[top] = true
			}
		}
	}
	for _, c := range changed {
		if why := decidePath(c.Path, in, areas, headers); why != "" {
			return why
		}
		// A new source file no record names may still be found by a
		// compiler that looks for it by name: a header earlier in the
		// include path than the one it shadows, a .c a Makefile's
		// wildcard picks up. New sources go through only far from
		// anything built.
		if c.Added && compilerRead[path.Ext(c.Path)] && (names[path.Base(c.Path)] || areas[area(c.Path)]) {
			return c.Path + " is new and may be found by name next to what is built"
		}
	}
	return ""
}

func decidePath(p string, in, areas map[string]bool, headers bool) string {
	base := path.Base(p)
	ext := path.Ext(p)
	switch {
	case p == "" || strings.HasPrefix(p, "/") || strings.Contains("/"+p+"/", "/../"):
		return fmt.Sprintf("%q is not a path in the tree", p)
	case in[p]:
		return p + " is read by the build"
	case strings.HasPrefix(base, "Kconfig") || strings.HasPrefix(base, "Makefile") ||
		strings.HasPrefix(base, "Kbuild") || ext == ".mk" || strings.HasPrefix(base, "GNUmakefile") ||
		(strings.HasPrefix(p, "tools/") && strings.HasPrefix(base, "Build")):
		return p + " may change what is built"
	case !strings.Contains(p, "/") && !notRead[p]:
		return p + " (top of the tree) may be read by the build"
	case headers && ext == ".h":
		return p + " is packed into the kernel (CONFIG_IKHEADERS)"
	}
	for _, d := range readByMake {
		if strings.HasPrefix(p, d) {
			return p + " is read by make rules"
		}
	}
	if compilerRead[ext] || !strings.Contains(p, "/") {
		return ""
	}
	// Any other file (a syscall table, a keymap, an awk script) may be read
	// by a make rule that records nothing: it is let through only when the
	// build read nothing at all from its area.
	if areas[area(p)] {
		return p + " may be read by a make rule next to built files"
	}
	return ""
}

// area is the part of the tree a path belongs to: its first two
// directories (drivers/gpu, arch/arm64, tools/perf, Documentation/process),
// or its first for a file one level down.
func area(p string) string {
	parts := strings.SplitN(p, "/", 4)
	switch len(parts) {
	case 1:
		return ""
	case 2:
		return parts[0]
	}
	return parts[0] + "/" + parts[1]
}
