package vmrun

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/cut"
)

// CutOptions choose the test image: a cut (built-in or user manifest), the
// test script or command, and the kernel's staged modules.
type CutOptions struct {
	Name          string   // built-in or user cut name ("boot" by default, "script" with a test)
	Manifest      string   // explicit manifest file (overrides Name)
	Script        string   // --script FILE
	Command       []string // -- CMD ARGS...
	SearchPath    []string // rapido.cutPath dirs, then <repo>/.rapido/cuts
	ModulesDir    string   // staged modules root (INSTALL_MOD_PATH), "" without modules
	KernelRelease string
	InitBinary    string        // static program installed as /init ("" = resolveInit's choice for Arch)
	Arch          string        // the guest's architecture ("" = x86_64)
	Sysroot       string        // root the cut's programs and libraries come from ("" = this host)
	Timeout       time.Duration // guest-side test timeout
	CacheDir      string        // image cache; "" = ${XDG_CACHE_HOME:-~/.cache}/git-rapido/images
	Env           map[string]string
	// Lookup reads git config for the manifest's config directive (the
	// command layer sets it to the git config's Get).
	Lookup func(key string) (string, bool)
	// Shares are host directories the guest mounts (--share, --pwd);
	// Workdir is the guest directory the test starts in (--pwd).
	Shares  []Share
	Workdir string
}

// CutPlan is a resolved cut, ready to be written.
type CutPlan struct {
	plan     *cut.Plan
	cacheDir string
}

// PlanCut resolves a cut without writing anything.
func PlanCut(o CutOptions) (*CutPlan, error) {
	co, err := o.internal()
	if err != nil {
		return nil, err
	}
	p, err := cut.Resolve(co)
	if err != nil {
		return nil, err
	}
	dir := o.CacheDir
	if dir == "" {
		dir = filepath.Join(CacheHome(), "images")
	}
	return &CutPlan{plan: p, cacheDir: dir}, nil
}

// Paths lists the image's guest paths in archive order.
func (p *CutPlan) Paths() []string { return p.plan.Image.Paths() }

// WriteImage writes the image into the cache (or finds it there) and
// returns its path and content digest.
func (p *CutPlan) WriteImage(ctx context.Context) (string, string, error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	return p.plan.Image.WriteCached(p.cacheDir)
}

// WriteImageTo writes the image to a file of the caller's choosing.
func (p *CutPlan) WriteImageTo(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".rapido-cut-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := p.plan.Image.Write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; an image is not secret, and users
	// copy it around (reading the umask would mean changing it, racing
	// with the other goroutines that create files and start processes).
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// CutNames lists the built-in cuts.
func CutNames() []string { return cut.Builtins() }

// CacheHome is git rapido's cache directory, shared by all repositories.
func CacheHome() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "git-rapido")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "git-rapido")
}
