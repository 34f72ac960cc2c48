package cut

import (
	"bufio"
	"bytes"
	"debug/elf"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/git-rapido/git-rapido/vmrun/internal/elfdeps"
	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

//go:embed builtin
var builtins embed.FS

// Options say which cut to build and with what.
type Options struct {
	Name       string   // built-in or user cut name; "" means "boot"
	Manifest   string   // an explicit manifest file (overrides Name)
	Script     string   // host script run as the test (--script)
	Command    []string // command run as the test (-- CMD...)
	SearchPath []string // directories with <name>.cut files, searched before the built-ins
	ModulesDir string   // INSTALL_MOD_PATH of the build, "" without modules
	Release    string   // kernel release, for lib/modules/<release>
	Init       string   // host path of the static program installed as /init
	// Arch names the guest's architecture for messages ("" = x86_64);
	// Machine is its ELF machine: every program, library and the init
	// must be built for it (0 skips the check).
	Arch    string
	Machine elf.Machine
	// Sysroot is the root the guest's programs and their libraries are
	// taken from ("" = this host): "bin busybox" is looked up in its
	// PATH directories, and the loader and libraries inside it.
	Sysroot    string
	TimeoutSec int
	Env        map[string]string
	Hostname   string
	// Lookup reads git config for the config directive (key rapido.KEY).
	Lookup func(key string) (string, bool)
	// Shares are host directories mounted in the guest (--share, --pwd),
	// after the manifest's share directives; Workdir, when set, is the
	// guest directory the test starts in (--pwd).
	Shares  []Share
	Workdir string
}

// Plan is a resolved cut: every entry of the image, nothing written yet.
type Plan struct {
	Image *Image
	Spec  guest.Spec
	// Host is what the manifest asks of the build and the VM (host.go).
	Host Host
	// Sources lists the manifest files read, in order, for messages.
	Sources []string
	// VMs is how many VMs boot this image together ("vms N"; 1 by
	// default). VerdictFrom is the VM whose test decides the verdict, or 0
	// when every VM's test must pass ("verdict-from N|all"; 1 by default).
	VMs, VerdictFrom int
	// texts are the manifests' contents, in the order of Sources.
	texts [][]byte
	// res is Prepare's resolver, kept for WithModules.
	res *resolver
}

// ManifestError points at the manifest line that is wrong.
type ManifestError struct {
	File string
	Line int
	Err  error
}

func (e *ManifestError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *ManifestError) Unwrap() error { return e.Err }

// Builtins lists the built-in cut names.
func Builtins() []string {
	ents, _ := builtins.ReadDir("builtin")
	var ns []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".cut"); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// Find returns the manifest for a cut name: the first <name>.cut in the
// search path, else the built-in one. The returned name is a file path or
// "builtin:<name>".
func Find(name string, searchPath []string) (string, []byte, error) {
	for _, d := range searchPath {
		p := filepath.Join(d, name+".cut")
		if b, err := os.ReadFile(p); err == nil {
			return p, b, nil
		}
	}
	if b, err := builtins.ReadFile("builtin/" + name + ".cut"); err == nil {
		return "builtin:" + name, b, nil
	}
	return "", nil, fmt.Errorf("find cut %q: no %s.cut in %s and no such built-in cut (built-ins: %s)",
		name, name, strings.Join(append(searchPath, "(none)")[:max(1, len(searchPath))], ", "), strings.Join(Builtins(), ", "))
}

// Resolve builds the plan for o: parses the manifest (following includes),
// adds ELF and module closures, the init binary and the guest spec.
func Resolve(o Options) (*Plan, error) {
	p, err := Prepare(o)
	if err != nil {
		return nil, err
	}
	return p.WithModules(o.ModulesDir, o.Release)
}

// Prepare resolves everything the kernel build does not decide: the
// manifest with its includes, programs and files, the host side, /init and
// the test. WithModules completes it once the kernel is built; until then
// the image has no guest spec. o.ModulesDir and o.Release are not used.
func Prepare(o Options) (*Plan, error) {
	o.ModulesDir, o.Release = "", ""
	p := &Plan{Image: newImage(), VMs: 1, VerdictFrom: 1}
	src, text, err := (&resolver{o: o}).top()
	if err != nil {
		return nil, err
	}
	r := &resolver{o: o, plan: p, elf: elfdeps.NewResolver(o.Sysroot), seen: map[string]bool{}, active: map[string]bool{}}
	p.Image.claim(ownFiles)
	if err := r.manifest(src, text, 0); err != nil {
		return nil, err
	}
	p.Image.release(ownFiles)
	if err := finishShares(&p.Host, o); err != nil {
		return nil, err
	}
	if len(p.Host.Shares) > 0 && p.VMs > 1 {
		return nil, fmt.Errorf("%s: share: a cut booting %d VMs cannot share host directories (one VM only)", src, p.VMs)
	}
	p.Spec.Shares, p.Spec.Dir = guestShares(p.Host.Shares), o.Workdir
	if o.Script != "" {
		if err := r.autorun(o.Script, "script"); err != nil {
			return nil, fmt.Errorf("add --script: %w", err)
		}
	}
	p.Spec.Command = o.Command
	p.Spec.TimeoutSec = o.TimeoutSec
	p.Spec.Env = r.configEnv(o.Env)
	p.Host.Env = r.configEnv(nil)
	p.Spec.Hostname = o.Hostname
	if p.Spec.Hostname == "" {
		p.Spec.Hostname = "rapido1"
	}
	if p.VerdictFrom > p.VMs {
		return nil, fmt.Errorf("%s: verdict-from %d: the cut boots only %d VM(s)", src, p.VerdictFrom, p.VMs)
	}
	if len(p.Host.Storage) > 0 && p.VMs > 1 {
		return nil, fmt.Errorf("%s: storage-daemon: a daemon's disk serves one VM, and the cut boots %d", src, p.VMs)
	}
	if err := p.addFixed(o); err != nil {
		return nil, err
	}
	p.res = r
	return p, nil
}

// addFixed adds /init and the directories every image has.
func (p *Plan) addFixed(o Options) error {
	initBin := o.Init
	if initBin == "" {
		var err error
		if initBin, err = os.Executable(); err != nil {
			return fmt.Errorf("find git-rapido for /init: %w", err)
		}
	}
	if err := checkStatic(initBin); err != nil {
		return err
	}
	if err := checkMachine("/init "+initBin, initBin, o); err != nil {
		return err
	}
	for _, e := range []*Entry{
		{Path: "/init", Kind: File, Mode: 0o755, Source: initBin, Host: true},
		{Path: "/proc", Kind: Dir, Mode: 0o555},
		{Path: "/sys", Kind: Dir, Mode: 0o555},
		{Path: "/dev", Kind: Dir, Mode: 0o755},
		{Path: "/tmp", Kind: Dir, Mode: 0o1777},
		{Path: "/run", Kind: Dir, Mode: 0o755},
		{Path: "/root", Kind: Dir, Mode: 0o700},
	} {
		if err := p.Image.put(e); err != nil {
			return err
		}
	}
	return nil
}

// WithModules returns the complete plan for a built kernel: p's image plus
// the closure of the modules the manifest asks for (from modulesDir, the
// build's INSTALL_MOD_PATH; "" when the kernel has none) and the guest
// spec. p itself is not changed, so one prepared plan serves every run.
func (p *Plan) WithModules(modulesDir, release string) (*Plan, error) {
	if p.res == nil {
		return nil, errors.New("cut: WithModules on a plan Prepare did not make")
	}
	q := *p
	q.Image = p.Image.clone()
	q.Spec.Modules = nil
	r := *p.res
	r.o.ModulesDir, r.o.Release = modulesDir, release
	r.plan = &q
	if err := r.modules(); err != nil {
		return nil, err
	}
	spec, _ := json.MarshalIndent(q.Spec, "", "  ")
	if err := q.Image.put(&Entry{Path: guest.SpecPath, Kind: File, Mode: 0o644, Data: append(spec, '\n')}); err != nil {
		return nil, err
	}
	q.res = nil
	return &q, nil
}

// ownFiles are the files git rapido writes into every image itself. They are
// claimed while the manifest is read, so that a line putting something else
// there is refused at that line, and filled in last.
var ownFiles = []string{"/init", guest.SpecPath}

func (im *Image) claim(paths []string) {
	for _, p := range paths {
		im.entries[p] = &Entry{Path: p, Kind: File, Source: "git rapido's own " + p}
	}
}

func (im *Image) release(paths []string) {
	for _, p := range paths {
		delete(im.entries, p)
	}
}

// checkStatic refuses a dynamically linked /init: the image has no loader
// for it, and the kernel would fail with a bare "No working init found".
func checkStatic(p string) error {
	deps, err := elfdeps.NewResolver("").Deps(p)
	if err != nil {
		return fmt.Errorf("check /init %s: %w", p, err)
	}
	if len(deps) > 0 {
		return fmt.Errorf("check /init %s: dynamically linked (needs %s); build git-rapido with CGO_ENABLED=0 (make build)", p, deps[0])
	}
	return nil
}

// checkMachine refuses an ELF program built for another machine than the
// guest's: the kernel would refuse to run it ("Exec format error") only
// once the VM is up, and name nothing. what names it in the message.
func checkMachine(what, hostPath string, o Options) error {
	if o.Machine == 0 {
		return nil
	}
	m, err := elfdeps.Machine(hostPath)
	if err != nil || m == o.Machine {
		return nil // not ELF: a script, data; unreadable: reported elsewhere
	}
	arch := o.Arch
	if arch == "" {
		arch = "x86_64"
	}
	fix := "set rapido.sysroot to a root holding " + arch + " programs and libraries, or give the " + arch + " build's path"
	if strings.HasPrefix(what, "/init") {
		fix = "set RAPIDO_INIT to a static " + arch + " program, or run 'make install', which builds git rapido's guest init for every architecture"
	}
	return fmt.Errorf("%s is %s, the guest is %s: %s", what, elfdeps.MachineName(m), elfdeps.MachineName(o.Machine), fix)
}

type resolver struct {
	o       Options
	plan    *Plan
	elf     *elfdeps.Resolver
	seen    map[string]bool
	active  map[string]bool // manifests being read, to report include cycles
	at      ManifestError   // the line being read, for errors found later
	kmods   []modRequest
	tryMods []string
	nrun    int
	// scanOnly skips the image directives (ScanHost).
	scanOnly bool
	vars     map[string]configVar
}

// modRequest is a kmod name with the line that asked for it: the module
// closure is resolved after the whole manifest, and its errors still point
// at that line.
type modRequest struct {
	name string
	at   ManifestError
}

func (r *resolver) manifest(src string, text []byte, depth int) error {
	if depth > 16 {
		return fmt.Errorf("%s: include nesting too deep", src)
	}
	r.plan.Sources = append(r.plan.Sources, src)
	r.plan.texts = append(r.plan.texts, text)
	r.active[src] = true
	defer delete(r.active, src)
	sc := bufio.NewScanner(bytes.NewReader(text))
	n := 1
	for ; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		r.at = ManifestError{File: src, Line: n}
		if err := r.directive(src, f[0], f[1:], depth); err != nil {
			var me *ManifestError
			if errors.As(err, &me) {
				return err
			}
			return &ManifestError{File: src, Line: n, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		// A line too long for the scanner: n is that line.
		return &ManifestError{File: src, Line: n, Err: err}
	}
	return nil
}

// relative resolves a manifest argument against the manifest's directory.
func relative(src, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	if strings.HasPrefix(src, "builtin:") {
		return "builtin:" + p
	}
	return filepath.Join(filepath.Dir(src), p)
}

// directive applies one manifest line. Host-side directives (kconfig,
// qemu-arg, host-hook, config) are handled by hostDirective; a scan-only
// pass (which only wants those) still follows includes. Every image-side
// directive has its own small method below, so its checks read in one
// place.
func (r *resolver) directive(src, verb string, args []string, depth int) error {
	args, err := r.expand(args)
	if err != nil {
		return err
	}
	if ok, err := r.hostDirective(src, verb, args); ok {
		return err
	}
	if r.scanOnly && verb != "include" {
		return nil
	}
	switch verb {
	case "bin", "try-bin":
		return r.binDirective(src, verb, args)
	case "kmod", "try-kmod":
		return r.kmodDirective(verb, args)
	case "file":
		return r.fileDirective(src, args)
	case "dir":
		return r.dirDirective(args)
	case "slink":
		return r.slinkDirective(args)
	case "tree":
		if err := wantArgs(verb, args, 2, "HOSTDIR GUESTDIR"); err != nil {
			return err
		}
		return r.tree(relative(src, args[0]), args[1])
	case "autorun":
		if err := wantArgs(verb, args, 1, "SCRIPT"); err != nil {
			return err
		}
		return r.autorun(relative(src, args[0]), filepath.Base(args[0]))
	case "shell":
		if err := wantArgs(verb, args, 0, "no arguments"); err != nil {
			return err
		}
		r.plan.Spec.Shell = true
		return nil
	case "boot-check":
		if err := wantArgs(verb, args, 0, "no arguments"); err != nil {
			return err
		}
		r.plan.Spec.BootCheck = true
		return nil
	case "vms":
		return r.vmsDirective(args)
	case "verdict-from":
		return r.verdictFromDirective(args)
	case "include":
		return r.includeDirective(src, args, depth)
	}
	return fmt.Errorf("unknown directive %q (want bin, try-bin, kmod, try-kmod, file, dir, slink, tree, autorun, include, shell, boot-check, vms, verdict-from, kconfig, qemu-arg, host-hook, storage-daemon, config, share)", verb)
}

// wantArgs checks a directive's argument count; usage names the arguments.
func wantArgs(verb string, args []string, n int, usage string) error {
	if len(args) != n {
		return fmt.Errorf("%s: want %s", verb, usage)
	}
	return nil
}

// binDirective adds programs and their libraries. try-bin skips a program
// that is not on this host, so one cut serves hosts with different tools;
// any other error (a broken library, say) still fails.
func (r *resolver) binDirective(src, verb string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s: want one or more programs", verb)
	}
	for _, a := range args {
		if err := r.bin(src, a); err != nil {
			if verb == "try-bin" && errors.Is(err, errNotFound) {
				continue
			}
			return err
		}
	}
	return nil
}

// kmodDirective records modules to resolve once the kernel is known: kmod
// remembers where it was asked for (for its error), try-kmod tolerates a
// module the kernel does not have.
func (r *resolver) kmodDirective(verb string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s: want one or more module names", verb)
	}
	if verb == "kmod" {
		for _, a := range args {
			r.kmods = append(r.kmods, modRequest{name: a, at: r.at})
		}
	} else {
		r.tryMods = append(r.tryMods, args...)
	}
	return nil
}

// fileDirective copies one regular host file into the image; directories
// go through tree, which walks them.
func (r *resolver) fileDirective(src string, args []string) error {
	if err := wantArgs("file", args, 2, "HOSTPATH GUESTPATH"); err != nil {
		return err
	}
	if err := entryPath("file", "GUESTPATH", args[1]); err != nil {
		return err
	}
	host := relative(src, args[0])
	fi, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("file: %s: not a regular file (use tree for directories)", host)
	}
	return r.plan.Image.put(&Entry{Path: args[1], Kind: File, Mode: fi.Mode().Perm(), Source: host})
}

// dirDirective creates empty directories in the image.
func (r *resolver) dirDirective(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("dir: want one or more paths")
	}
	for _, a := range args {
		if err := r.plan.Image.put(&Entry{Path: a, Kind: Dir, Mode: 0o755}); err != nil {
			return err
		}
	}
	return nil
}

// slinkDirective adds a symlink; its target is taken as written, since it
// is resolved in the guest.
func (r *resolver) slinkDirective(args []string) error {
	if err := wantArgs("slink", args, 2, "TARGET LINK"); err != nil {
		return err
	}
	if err := entryPath("slink", "LINK", args[1]); err != nil {
		return err
	}
	return r.plan.Image.put(&Entry{Path: args[1], Kind: Symlink, Mode: 0o777, Target: args[0]})
}

// vmsDirective sets how many VMs boot the image; the bound keeps a typo
// from starting hundreds of QEMUs.
func (r *resolver) vmsDirective(args []string) error {
	if err := wantArgs("vms", args, 1, "COUNT"); err != nil {
		return err
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 16 {
		return fmt.Errorf("vms: want a count from 1 to 16, got %q", args[0])
	}
	r.plan.VMs = n
	return nil
}

// verdictFromDirective names the VM whose verdict is the run's (1 is the
// first), or all of them (0).
func (r *resolver) verdictFromDirective(args []string) error {
	if err := wantArgs("verdict-from", args, 1, "VM|all"); err != nil {
		return err
	}
	if args[0] == "all" {
		r.plan.VerdictFrom = 0
		return nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("verdict-from: want a VM number (1 is the first) or all, got %q", args[0])
	}
	r.plan.VerdictFrom = n
	return nil
}

// includeDirective reads another manifest in place: a bare name is another
// cut, found like --cut NAME; a path is relative to the including file. A
// file already being read is a cycle, refused rather than recursed into.
func (r *resolver) includeDirective(src string, args []string, depth int) error {
	if err := wantArgs("include", args, 1, "OTHER"); err != nil {
		return err
	}
	other := args[0]
	var text []byte
	var err error
	if !strings.Contains(other, "/") && !strings.HasSuffix(other, ".cut") {
		other, text, err = Find(other, r.o.SearchPath)
	} else {
		other = relative(src, other)
		text, err = os.ReadFile(other)
	}
	if err != nil {
		return fmt.Errorf("include: %w", err)
	}
	if r.active[other] {
		return fmt.Errorf("include %s: include cycle (%s is already being read)", args[0], other)
	}
	return r.manifest(other, text, depth+1)
}

// entryPath refuses a guest path that names a directory ("/", "/etc/") where
// a file or link is meant: the image would otherwise drop the entry (the
// root) or turn the directory into a file, without a word.
func entryPath(verb, what, p string) error {
	if strings.HasSuffix(p, "/") || path.Clean("/"+p) == "/" {
		return fmt.Errorf("%s: %s %q names a directory; give the full path of the %s in the guest (e.g. /etc/hostname)", verb, what, p, verb)
	}
	return nil
}

// bin adds a program (found in PATH when not a path) and its ELF closure.
// A relative path is relative to the manifest, like every host path.
//
// With a sysroot, a name is looked up in the sysroot's PATH directories and
// an absolute path inside the sysroot; the program keeps its path there in
// the guest, and its loader and libraries come from the sysroot too.
func (r *resolver) bin(src, name string) error {
	if root := r.o.Sysroot; root != "" && (!strings.Contains(name, "/") || filepath.IsAbs(name)) {
		return r.sysrootBin(name)
	}
	p := name
	if !strings.Contains(name, "/") {
		lp, err := exec.LookPath(name)
		if err != nil {
			return fmt.Errorf("bin: %s: %w in PATH", name, errNotFound)
		}
		p = lp
	} else if !strings.HasPrefix(src, "builtin:") {
		p = relative(src, name)
	}
	p, _ = filepath.Abs(p)
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("bin: %s: %w", name, errNotFound)
	}
	if r.seen[p] {
		return nil
	}
	r.seen[p] = true
	if err := checkMachine("bin "+p, p, r.o); err != nil {
		return err
	}
	if err := r.plan.Image.addHost(p, 0); err != nil {
		return fmt.Errorf("bin: %w", err)
	}
	host := r.elf
	if r.o.Sysroot != "" {
		host = elfdeps.NewResolver("") // a relative path: a program of this host
	}
	deps, err := host.Deps(p)
	if errors.Is(err, elfdeps.ErrNotELF) {
		return nil // a script: its interpreter is the manifest's business
	}
	if err != nil {
		return fmt.Errorf("bin: %w", err)
	}
	for _, d := range deps {
		if err := r.plan.Image.addHost(d, 0); err != nil {
			return fmt.Errorf("bin: %s: %w", name, err)
		}
	}
	return nil
}

// sysrootPath are the directories a name is looked for in a sysroot.
var sysrootPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// sysrootBin is bin for a program of the sysroot: p is its path inside.
func (r *resolver) sysrootBin(name string) error {
	root := r.o.Sysroot
	p := ""
	if filepath.IsAbs(name) {
		if _, err := os.Stat(filepath.Join(root, name)); err == nil {
			p = filepath.Clean(name)
		}
	} else {
		for _, d := range sysrootPath {
			if fi, err := os.Stat(filepath.Join(root, d, name)); err == nil && fi.Mode().IsRegular() {
				p = path.Join(d, name)
				break
			}
		}
	}
	if p == "" {
		return fmt.Errorf("bin: %s: %w in the sysroot %s (%s)", name, errNotFound, root, strings.Join(sysrootPath, ":"))
	}
	key := "sysroot:" + p
	if r.seen[key] {
		return nil
	}
	r.seen[key] = true
	if err := checkMachine("bin "+p+" (in the sysroot "+root+")", filepath.Join(root, p), r.o); err != nil {
		return err
	}
	if err := r.plan.Image.addHostIn(root, p, 0); err != nil {
		return fmt.Errorf("bin: %w", err)
	}
	deps, err := r.elf.Deps(p)
	if errors.Is(err, elfdeps.ErrNotELF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bin: %w", err)
	}
	for _, d := range deps {
		if err := r.plan.Image.addHostIn(root, d, 0); err != nil {
			return fmt.Errorf("bin: %s: %w", name, err)
		}
	}
	return nil
}

func (r *resolver) tree(host, guestDir string) error {
	return filepath.WalkDir(host, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("tree: %w", err)
		}
		rel, _ := filepath.Rel(host, p)
		gp := path.Join(guestDir, filepath.ToSlash(rel))
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("tree: %w", err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("tree: %w", err)
			}
			return r.plan.Image.put(&Entry{Path: gp, Kind: Symlink, Mode: 0o777, Target: t})
		case d.IsDir():
			return r.plan.Image.put(&Entry{Path: gp, Kind: Dir, Mode: fi.Mode().Perm()})
		case fi.Mode().IsRegular():
			return r.plan.Image.put(&Entry{Path: gp, Kind: File, Mode: fi.Mode().Perm(), Source: p})
		}
		return nil
	})
}

func (r *resolver) autorun(host, name string) error {
	if b, ok := strings.CutPrefix(host, "builtin:"); ok {
		data, err := builtins.ReadFile("builtin/" + b)
		if err != nil {
			return fmt.Errorf("autorun: %w", err)
		}
		r.nrun++
		gp := fmt.Sprintf("/rapido/autorun/%02d-%s", r.nrun, name)
		r.plan.Spec.Autorun = append(r.plan.Spec.Autorun, gp)
		return r.plan.Image.put(&Entry{Path: gp, Kind: File, Mode: 0o755, Data: data})
	}
	fi, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("autorun: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("autorun: %s: not a regular file", host)
	}
	r.nrun++
	gp := fmt.Sprintf("/rapido/autorun/%02d-%s", r.nrun, name)
	r.plan.Spec.Autorun = append(r.plan.Spec.Autorun, gp)
	return r.plan.Image.put(&Entry{Path: gp, Kind: File, Mode: 0o755, Source: host})
}

// modules adds the requested kernel modules with their dependencies and the
// modules.* index files, so that modprobe works in the guest.
func (r *resolver) modules() error {
	if len(r.kmods) == 0 && len(r.tryMods) == 0 {
		return nil
	}
	if r.o.ModulesDir == "" || r.o.Release == "" {
		// Only kmod insists: try-kmod of a kernel without modules is no
		// error.
		if len(r.kmods) == 0 {
			return nil
		}
		var names []string
		for _, m := range r.kmods {
			names = append(names, m.name)
		}
		return &ManifestError{File: r.kmods[0].at.File, Line: r.kmods[0].at.Line,
			Err: fmt.Errorf("kmod %s: the kernel has no modules staged (is CONFIG_MODULES=y and the module enabled as =m?)", strings.Join(names, " "))}
	}
	base := filepath.Join(r.o.ModulesDir, "lib/modules", r.o.Release)
	g, err := loadModGraph(base)
	if err != nil {
		return err
	}
	for _, m := range r.kmods {
		if err := g.add(m.name, true); err != nil {
			return &ManifestError{File: m.at.File, Line: m.at.Line, Err: err}
		}
		r.plan.Spec.Modules = append(r.plan.Spec.Modules, m.name)
	}
	for _, m := range r.tryMods {
		if err := g.add(m, false); err != nil {
			return err
		}
		if _, ok := g.byName[normalizeModule(m)]; ok {
			r.plan.Spec.Modules = append(r.plan.Spec.Modules, m)
		}
	}
	return r.putModules(base, g.want)
}

// modGraph is the staged kernel's module dependency graph and the set of
// module files chosen so far.
type modGraph struct {
	base   string              // lib/modules/<release> of the staged kernel
	deps   map[string][]string // module file -> files it needs (modules.dep)
	soft   map[string][]string // module name -> soft pre/post dependencies
	byName map[string]string   // normalized module name -> module file
	want   map[string]bool     // module files to put in the image
}

// loadModGraph reads the dependency graph of the kernel staged under base.
func loadModGraph(base string) (*modGraph, error) {
	deps, err := readModulesDep(base)
	if err != nil {
		return nil, err
	}
	g := &modGraph{base: base, deps: deps, soft: readSoftdeps(base), byName: map[string]string{}, want: map[string]bool{}}
	for file := range deps {
		g.byName[moduleName(file)] = file
	}
	return g, nil
}

// add chooses a module with everything it depends on. A hard dependency
// must exist; a soft one, like a try-kmod, is taken only when the kernel
// has it (required false): softdeps are optional to modprobe too.
func (g *modGraph) add(name string, required bool) error {
	file, ok := g.byName[normalizeModule(name)]
	if !ok {
		if required {
			return fmt.Errorf("kmod %s: not in %s/modules.dep (built in, or not enabled as =m?)", name, g.base)
		}
		return nil
	}
	if g.want[file] {
		return nil
	}
	g.want[file] = true
	for _, d := range g.deps[file] {
		if err := g.add(moduleName(d), true); err != nil {
			return err
		}
	}
	for _, s := range g.soft[normalizeModule(name)] {
		if err := g.add(s, false); err != nil {
			return err
		}
	}
	return nil
}

// putModules puts the chosen module files and every modules.* index of
// base into the image, in sorted order so the image does not depend on map
// order.
func (r *resolver) putModules(base string, want map[string]bool) error {
	files := make([]string, 0, len(want))
	for f := range want {
		files = append(files, f)
	}
	idx, _ := filepath.Glob(filepath.Join(base, "modules.*"))
	for _, f := range idx {
		rel, _ := filepath.Rel(base, f)
		files = append(files, rel)
	}
	sort.Strings(files)
	for _, f := range files {
		gp := path.Join("/lib/modules", r.o.Release, f)
		if err := r.plan.Image.put(&Entry{Path: gp, Kind: File, Mode: 0o644, Source: filepath.Join(base, f), Module: true}); err != nil {
			return err
		}
	}
	return nil
}

func readModulesDep(base string) (map[string][]string, error) {
	b, err := os.ReadFile(filepath.Join(base, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		deps[strings.TrimSpace(mod)] = strings.Fields(rest)
	}
	return deps, nil
}

// readSoftdeps reads "softdep NAME pre: A B post: C" lines.
func readSoftdeps(base string) map[string][]string {
	b, _ := os.ReadFile(filepath.Join(base, "modules.softdep"))
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			continue
		}
		for _, w := range f[2:] {
			if w != "pre:" && w != "post:" {
				out[normalizeModule(f[1])] = append(out[normalizeModule(f[1])], w)
			}
		}
	}
	return out
}

func moduleName(file string) string {
	b := path.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return normalizeModule(strings.TrimSuffix(b, ".ko"))
}

// normalizeModule makes "-" and "_" equivalent, as modprobe does.
func normalizeModule(n string) string { return strings.ReplaceAll(n, "-", "_") }
