package kbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Reuse lets a build skip make when no input of the last build's kernel
// changed: a docs-only commit, a change under tools/ or another
// architecture, a reword. The decision is exact in the conservative
// direction; any doubt runs make.
type Reuse struct {
	// Tree is the git tree being built (the worktree's, written from a
	// temporary index when it is dirty).
	Tree string
	// ReadTree, when Tree is "", reads it; it runs next to the first
	// checks of the decision, and before make when make runs.
	ReadTree func(ctx context.Context) (string, error)
	// Compiler is the compiler's identity (its --version line).
	Compiler string
	// Diff lists the paths that differ between the trees from and to.
	Diff func(ctx context.Context, from, to string) ([]Change, error)
	// Head, when set, is HEAD's tree: the likely answer of ReadTree,
	// quick to read. The diff against it starts at once and is used when
	// the tree read is that one (a clean worktree), so the diff does not
	// wait for the worktree's status.
	Head func(ctx context.Context) (string, error)
	// Files lists the paths of a tree: an input that is not one of them
	// (an untracked header) is checked by its size and time instead.
	Files func(ctx context.Context, tree string) ([]string, error)
	// Now reads the worktree's tree again once make is done; the build
	// is recorded only when it still is Tree (nothing changed under make).
	Now func(ctx context.Context) (string, error)

	ready   chan struct{} // closed once ReadTree answered
	treeErr error
}

// start returns a copy of r whose tree is being read (ReadTree) in the
// background.
func (r *Reuse) start(ctx context.Context) *Reuse {
	c := *r
	if c.Tree == "" && c.ReadTree != nil {
		c.ready = make(chan struct{})
		go func() {
			defer close(c.ready)
			c.Tree, c.treeErr = c.ReadTree(ctx)
		}()
	}
	return &c
}

// tree waits for the tree to build.
func (r *Reuse) tree() (string, error) {
	if r.ready != nil {
		<-r.ready
	}
	if r.treeErr == nil && r.Tree == "" {
		return "", errors.New("no tree to build")
	}
	return r.Tree, r.treeErr
}

// recordName is the record of the last build in the build directory. It
// is removed before make starts and written (atomically) only after make
// succeeded, so an interrupted or failed build leaves none.
const recordName = ".rapido-built"

// recordVersion names the record's layout and the rules that made it.
// Version 2 added VmlinuxOnly.
const recordVersion = 2

// Record is what the last successful build read and produced.
type Record struct {
	Version int    `json:"version"`
	Tree    string `json:"tree"`
	// Key hashes the configuration inputs, the make command line, the
	// compiler, the toolchain's programs and the environment make sees.
	Key string `json:"key"`
	// LocalVersion is what scripts/setlocalversion said: the kernel
	// release also depends on the commit (tags, CONFIG_LOCALVERSION_AUTO).
	LocalVersion string `json:"localversion"`
	Release      string `json:"release"`
	Image        string `json:"image"`
	// VmlinuxOnly says make built vmlinux and not the compressed image
	// (Image is vmlinux): a build that needs the image runs make.
	VmlinuxOnly bool     `json:"vmlinux_only,omitempty"`
	ModulesDir  string   `json:"modules_dir,omitempty"`
	Outputs     []Stamp  `json:"outputs"`
	External    []Stamp  `json:"external,omitempty"`
	Headers     bool     `json:"headers,omitempty"`
	Inputs      []string `json:"inputs"`
}

// Stamp identifies a file's content cheaply: size and modification time,
// and a hash for the small files that decide everything (.config).
type Stamp struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`
	Sum   string `json:"sum,omitempty"`
}

func stampOf(p string, sum bool) Stamp {
	s := Stamp{Path: p, Size: -1}
	fi, err := os.Stat(p)
	if err != nil {
		return s
	}
	s.Size, s.MTime = fi.Size(), fi.ModTime().UnixNano()
	if sum {
		if b, err := os.ReadFile(p); err == nil {
			s.Sum = fmt.Sprintf("%x", sha256.Sum256(b))
		}
	}
	return s
}

// changedStamp returns the first file whose stamp differs, or "".
func changedStamp(stamps []Stamp) string {
	for _, s := range stamps {
		if stampOf(s.Path, s.Sum != "") != s {
			return s.Path
		}
	}
	return ""
}

// outputStamps are the build directory's files a hand edit or a make run
// outside git rapido would change.
func outputStamps(o Options, arch Arch) []Stamp {
	b := o.BuildDir
	files := []string{".config", "include/config/auto.conf", "include/config/kernel.release",
		"vmlinux", filepath.Join("arch", arch.Name, "boot", arch.Image), ".rapido-config",
		"modules.order", "rapido-modules/.stamp"}
	var out []Stamp
	for i, f := range files {
		out = append(out, stampOf(filepath.Join(b, f), i < 2))
	}
	return out
}

// envNames are the environment variables the kernel's make reads (with
// every KBUILD_* one); user and host name go in too (compile.h names them).
var envNames = []string{"ARCH", "SUBARCH", "SRCARCH", "CROSS_COMPILE", "LLVM", "LLVM_IAS", "CC", "HOSTCC",
	"HOSTCXX", "LD", "AS", "AR", "NM", "OBJCOPY", "OBJDUMP", "STRIP", "READELF", "KCFLAGS", "KCPPFLAGS",
	"KAFLAGS", "KRUSTFLAGS", "KLDFLAGS", "HOSTCFLAGS", "HOSTLDFLAGS", "HOSTCXXFLAGS", "LOCALVERSION",
	"INSTALL_MOD_STRIP", "MAKEFLAGS", "GNUMAKEFLAGS", "MAKEFILES", "PATH", "CONFIG_SHELL", "PAHOLE",
	"RUSTC", "BINDGEN", "CCACHE_DISABLE", "W", "C", "V", "KERNELRELEASE", "KERNELVERSION"}

// toolNames are the programs of the toolchain besides the compiler.
func toolNames(o Options) []string {
	p := o.CrossCompile
	names := []string{o.Make, "gcc", "cc", "ld", "sh", "perl", "pahole", "flex", "bison", "openssl"}
	if o.LLVM != "" {
		return append(names, "clang", "ld.lld", "llvm-ar", "llvm-nm", "llvm-objcopy", "llvm-objdump", "llvm-readelf", "llvm-strip")
	}
	for _, t := range []string{"gcc", "ld", "as", "ar", "nm", "objcopy", "objdump", "readelf", "strip"} {
		names = append(names, p+t)
	}
	return names
}

// reuseKey hashes everything besides the tree that decides the kernel:
// the configuration inputs, the make command line (without -j, which
// changes only how fast), the compiler, the toolchain's programs and the
// environment make sees.
func reuseKey(o Options, common []string, compiler string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "record v%d\n", recordVersion)
	cd, err := ConfigDigest(o)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "config %s\ncompiler %q\n", cd, compiler)
	argv := append(append([]string(nil), o.MakeWrapper...), o.Make)
	for _, a := range common {
		if !strings.HasPrefix(a, "-j") {
			argv = append(argv, a)
		}
	}
	fmt.Fprintf(h, "argv %q\n", argv)
	for _, n := range envNames {
		v, ok := os.LookupEnv(n)
		switch n {
		case "PATH":
			v = dedupPath(v)
		case "MAKEFLAGS", "GNUMAKEFLAGS":
			v = dropJobserver(v)
		}
		fmt.Fprintf(h, "env %s %t %q\n", n, ok, v)
	}
	var kb []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "KBUILD_") {
			kb = append(kb, e)
		}
	}
	sort.Strings(kb)
	fmt.Fprintf(h, "kbuild-env %q\n", kb)
	if u, err := user.Current(); err == nil {
		fmt.Fprintf(h, "user %s\n", u.Username)
	}
	host, _ := os.Hostname()
	fmt.Fprintf(h, "host %s\n", host)
	for _, t := range toolNames(o) {
		p, err := exec.LookPath(t)
		if err != nil {
			fmt.Fprintf(h, "tool %s missing\n", t)
			continue
		}
		s := stampOf(p, false)
		fmt.Fprintf(h, "tool %s %s %d %d\n", t, p, s.Size, s.MTime)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dedupPath drops the repeats of a $PATH, which change no lookup: git
// puts its exec-path in front of PATH once per level of nesting (a
// rebase exec line, an alias), and the same build must not look new.
func dedupPath(p string) string {
	seen := map[string]bool{}
	var out []string
	for _, d := range filepath.SplitList(p) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return strings.Join(out, string(filepath.ListSeparator))
}

// dropJobserver removes what only says how make runs jobs (a parent
// make's job server, -j) from MAKEFLAGS: it differs from one outer make
// to the next and changes no output.
func dropJobserver(flags string) string {
	var out []string
	for _, f := range strings.Fields(flags) {
		if strings.HasPrefix(f, "--jobserver-") || strings.HasPrefix(f, "-j") {
			continue
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

// localVersion runs the tree's scripts/setlocalversion as kbuild does (in
// the build directory): the release depends on the commit's tags and, with
// CONFIG_LOCALVERSION_AUTO, on the commit itself. A tree without the
// script says so; one whose script fails cannot be reused.
func localVersion(ctx context.Context, o Options) (string, error) {
	script := filepath.Join(o.SourceDir, "scripts", "setlocalversion")
	if _, err := os.Stat(script); err != nil {
		return "(no scripts/setlocalversion)", nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", script, o.SourceDir)
	cmd.Dir = o.BuildDir
	// Newer kernels print the whole release from KERNELVERSION; a fixed
	// value keeps the two answers comparable.
	cmd.Env = append(os.Environ(), "KERNELVERSION=rapido")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var err error
	if o.Exec != nil {
		err = o.Exec.Run(cmd)
	} else {
		err = cmd.Run()
	}
	if err != nil {
		return "", fmt.Errorf("scripts/setlocalversion: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func readRecord(dir string) (*Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordName))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// dropRecord forgets the last build before anything in the build
// directory changes. A record that cannot be removed must not outlive the
// build, so that is an error.
func dropRecord(dir string) error {
	if err := os.Remove(filepath.Join(dir, recordName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forget the last build: %w", err)
	}
	return nil
}

// tryReuse decides, under the build directory's lock, whether the last
// build's kernel is the kernel make would build now. It returns the
// result to reuse, or why make must run ("" when there is no record,
// the first build).
func tryReuse(ctx context.Context, o Options, arch Arch, common []string) (*Result, string) {
	rec, err := readRecord(o.BuildDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	switch {
	case err != nil:
		return nil, "the record of the last build is unreadable"
	case rec.Version != recordVersion:
		return nil, "the last build was recorded by another version of git rapido"
	case rec.VmlinuxOnly && o.VmlinuxIf == "":
		return nil, "the last build made vmlinux only, and this one needs " + arch.Image
	}
	// The two processes the decision needs (scripts/setlocalversion and
	// git diff) run while the record is checked; a decision made without
	// them stops them.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var lv string
	var lvErr, diffErr error
	var changed []Change
	wg.Add(2)
	go func() { defer wg.Done(); lv, lvErr = localVersion(ctx, o) }()
	var tree string
	go func() {
		defer wg.Done()
		type diff struct {
			tree    string
			changed []Change
			err     error
		}
		var guess chan diff
		if o.Reuse.Head != nil && o.Reuse.ready != nil {
			guess = make(chan diff, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				head, err := o.Reuse.Head(ctx)
				if err != nil || head == rec.Tree {
					guess <- diff{err: errors.New("no guess")}
					return
				}
				cs, err := o.Reuse.Diff(ctx, rec.Tree, head)
				guess <- diff{head, cs, err}
			}()
		}
		if tree, diffErr = o.Reuse.tree(); diffErr != nil || rec.Tree == tree {
			return
		}
		if guess != nil {
			if g := <-guess; g.err == nil && g.tree == tree {
				changed = g.changed
				return
			}
		}
		changed, diffErr = o.Reuse.Diff(ctx, rec.Tree, tree)
	}()
	key, err := reuseKey(o, common, o.Reuse.Compiler)
	if err != nil {
		return nil, err.Error()
	}
	if key != rec.Key {
		return nil, "the configuration, make command line, toolchain or environment changed"
	}
	if f := changedStamp(rec.Outputs); f != "" {
		return nil, "the build directory changed since the last build (" + f + ")"
	}
	if f := changedStamp(rec.External); f != "" {
		return nil, f + " changed"
	}
	wg.Wait()
	if lvErr != nil {
		return nil, lvErr.Error()
	}
	if lv != rec.LocalVersion {
		return nil, "the kernel release would change (scripts/setlocalversion)"
	}
	if diffErr != nil {
		return nil, fmt.Sprintf("cannot compare with the tree last built: %v", diffErr)
	}
	if why := Decide(rec.Inputs, changed, rec.Headers); rec.Tree != tree && why != "" {
		return nil, why
	}
	res := &Result{KernelImage: rec.Image, BuildDir: o.BuildDir, KernelRelease: rec.Release,
		ConfigPath: filepath.Join(o.BuildDir, ".config"), Skipped: true, VmlinuxOnly: rec.VmlinuxOnly}
	if rec.ModulesDir != "" {
		if _, err := os.Stat(rec.ModulesDir); err != nil {
			return nil, "the installed modules are gone"
		}
		res.ModulesDir = rec.ModulesDir
	}
	return res, ""
}

// recordBuild writes the record of a build that just succeeded: the
// tree, the key, the inputs read from kbuild's records and the stamps.
// A build whose records cannot be read, or whose worktree changed under
// make, is not recorded: the next build runs make.
func recordBuild(ctx context.Context, o Options, arch Arch, common []string, res *Result) error {
	if now, err := o.Reuse.Now(ctx); err != nil || now != o.Reuse.Tree {
		return nil
	}
	key, err := reuseKey(o, common, o.Reuse.Compiler)
	if err != nil {
		return err
	}
	// Only the records make rewrote are parsed again (inputsCache).
	ck := inputsCacheKey(o.SourceDir, o.BuildDir, key)
	in, cache, err := scanInputs(o.SourceDir, o.BuildDir, loadInputsCache(o.BuildDir, ck))
	if err != nil {
		return err
	}
	if in.Records == 0 || len(in.Source) == 0 {
		return nil // no records: nothing proves what was read
	}
	cache.Key = ck
	saveInputsCache(o.BuildDir, cache)
	rec := &Record{Version: recordVersion, Tree: o.Reuse.Tree, Release: res.KernelRelease,
		Image: res.KernelImage, ModulesDir: res.ModulesDir, VmlinuxOnly: res.VmlinuxOnly, Key: key}
	if rec.LocalVersion, err = localVersion(ctx, o); err != nil {
		return nil
	}
	files, err := o.Reuse.Files(ctx, o.Reuse.Tree)
	if err != nil {
		return err
	}
	tracked := make(map[string]bool, len(files))
	for _, f := range files {
		tracked[f] = true
	}
	for _, p := range in.Source {
		if tracked[p] {
			rec.Inputs = append(rec.Inputs, p)
		} else {
			rec.External = append(rec.External, stampOf(filepath.Join(o.SourceDir, p), false))
		}
	}
	for _, p := range in.External {
		rec.External = append(rec.External, stampOf(p, false))
	}
	cfg, _ := os.ReadFile(filepath.Join(o.BuildDir, ".config"))
	rec.Headers = strings.Contains("\n"+string(cfg), "\nCONFIG_IKHEADERS=")
	rec.Outputs = outputStamps(o, arch)
	for _, m := range in.Modules {
		rec.Outputs = append(rec.Outputs, stampOf(m, false))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(o.BuildDir, recordName), b)
}

// writeAtomic replaces file with data through a temporary file and a
// rename, so a reader never sees half a record.
func writeAtomic(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, bytes.NewReader(data))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
