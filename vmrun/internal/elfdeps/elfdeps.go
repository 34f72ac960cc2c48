// Package elfdeps finds the shared libraries an ELF program needs by reading
// its headers (PT_INTERP, DT_NEEDED, DT_RUNPATH/DT_RPATH with $ORIGIN) and
// searching the directories the dynamic loader would, without running
// anything: unlike "ldd" it works for any architecture and never executes the
// binary under inspection.
package elfdeps

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Resolver looks libraries up. Root prefixes every path (for a sysroot);
// Dirs is the loader's search list after RUNPATH/RPATH.
type Resolver struct {
	Root string
	Dirs []string
}

// NewResolver returns a resolver with the directories of /etc/ld.so.conf
// (following include lines) and the usual multiarch and lib dirs.
func NewResolver(root string) *Resolver {
	r := &Resolver{Root: root}
	r.Dirs = append(r.Dirs, ldSoConf(filepath.Join(root, "/etc/ld.so.conf"), 0)...)
	r.Dirs = append(r.Dirs,
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
		"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
	return r
}

func ldSoConf(path string, depth int) []string {
	if depth > 8 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "include "); ok {
			pat := strings.TrimSpace(rest)
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(filepath.Dir(path), pat)
			}
			matches, _ := filepath.Glob(pat)
			sort.Strings(matches)
			for _, m := range matches {
				dirs = append(dirs, ldSoConf(m, depth+1)...)
			}
			continue
		}
		dirs = append(dirs, line)
	}
	return dirs
}

// Machine reads the ELF machine of the file at path (ErrNotELF for a
// script or data).
func Machine(path string) (elf.Machine, error) {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, ErrNotELF
		}
		return 0, err
	}
	defer f.Close()
	return f.Machine, nil
}

// MachineName is how messages name an ELF machine: as the guest
// architectures are named where git rapido knows them.
func MachineName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86-64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_386:
		return "i386"
	case elf.EM_ARM:
		return "32-bit arm"
	case elf.EM_RISCV:
		return "riscv"
	}
	return strings.TrimPrefix(m.String(), "EM_")
}

// ErrNotELF is returned for files that are not ELF (scripts, data).
var ErrNotELF = errors.New("not an ELF file")

// Deps returns the absolute paths (without Root) of every file the loader
// would open for program: its interpreter and the transitive DT_NEEDED
// closure. Paths are as found, not resolved through symlinks.
func (r *Resolver) Deps(program string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	// loaders holds the DT_RPATH dirs of the objects that led here: ld.so
	// searches them too (the executable's first of all), unlike DT_RUNPATH.
	var visit func(path string, depth int, loaders []string) error
	visit = func(path string, depth int, loaders []string) error {
		f, err := elf.Open(r.hostPath(path))
		if err != nil {
			// A file shorter than the ELF ident (a one-line script, an
			// empty file) fails with EOF rather than a FormatError.
			var fe *elf.FormatError
			if depth == 0 && (errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				return ErrNotELF
			}
			return fmt.Errorf("read ELF %s: %w", path, err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				interp := strings.TrimRight(string(b), "\x00")
				if !seen[interp] {
					seen[interp] = true
					out = append(out, interp)
				}
			}
		}
		needed, _ := f.ImportedLibraries()
		var search, own []string
		runpath, _ := f.DynString(elf.DT_RUNPATH)
		if len(runpath) == 0 {
			// DT_RPATH counts only without DT_RUNPATH, as in ld.so.
			rpath, _ := f.DynString(elf.DT_RPATH)
			own = expandPaths(rpath, path)
		}
		inherit := append(own, loaders...)
		if len(runpath) == 0 {
			// Without DT_RUNPATH the loaders' DT_RPATHs count too.
			search = append(search, inherit...)
		}
		search = append(search, expandPaths(runpath, path)...)
		search = append(search, r.Dirs...)
		for _, lib := range needed {
			found := ""
			if strings.Contains(lib, "/") {
				found = lib
			} else {
				for _, d := range search {
					cand := filepath.Join(d, lib)
					if r.compatible(cand, f) {
						found = cand
						break
					}
				}
			}
			if found == "" {
				return fmt.Errorf("resolve %s: %s needs %s: not found in %s", program, path, lib, strings.Join(search, ":"))
			}
			if seen[found] {
				continue
			}
			seen[found] = true
			out = append(out, found)
			if err := visit(found, depth+1, inherit); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(program, 0, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// hostPath is where the file at path of the resolver's tree is on this
// host. Under a Root, symlinks are followed inside it: a sysroot's
// "/lib/ld-linux-aarch64.so.1 -> /usr/lib/..." leads to the sysroot's
// file, not to this host's.
func (r *Resolver) hostPath(p string) string {
	if r.Root == "" {
		return p
	}
	parts := strings.Split(strings.TrimPrefix(filepath.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0 && hops < 40; {
		next := filepath.Join(cur, parts[0])
		t, err := os.Readlink(filepath.Join(r.Root, next))
		if err != nil { // not a symlink (or missing): go on
			cur, parts = next, parts[1:]
			continue
		}
		hops++
		if !filepath.IsAbs(t) {
			t = filepath.Join(cur, t)
		}
		parts = append(strings.Split(strings.TrimPrefix(filepath.Clean(t), "/"), "/"), parts[1:]...)
		cur = "/"
	}
	return filepath.Join(r.Root, cur)
}

// compatible reports whether cand exists and is an ELF of the same class and
// machine as the program that needs it (so a 32-bit lib is skipped).
func (r *Resolver) compatible(cand string, want *elf.File) bool {
	f, err := elf.Open(r.hostPath(cand))
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == want.Class && f.Machine == want.Machine
}

func expandPaths(lists []string, obj string) []string {
	var out []string
	origin := filepath.Dir(obj)
	for _, l := range lists {
		for _, d := range strings.Split(l, ":") {
			if d == "" {
				continue
			}
			d = strings.ReplaceAll(d, "${ORIGIN}", origin)
			d = strings.ReplaceAll(d, "$ORIGIN", origin)
			out = append(out, filepath.Clean(d))
		}
	}
	return out
}
