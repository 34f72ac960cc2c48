package cut

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Host is what a manifest asks of the host side of a run rather than of the
// image: kernel options for the build, extra QEMU arguments, and scripts
// run on the host next to the VM.
type Host struct {
	// Kconfig holds CONFIG_X=VALUE items from kconfig directives, in order;
	// they are merged after the user's rapido.kconfig fragments.
	Kconfig []string
	// QEMUArgs are appended to QEMU's command line; $RAPIDO_RUNDIR in them
	// is replaced by the run's log directory when the VM starts.
	QEMUArgs []string
	// Hooks are host scripts (absolute paths), see the host-hook directive.
	Hooks []string
	// Env holds the config directives' values (RAPIDO_KEY=value), which
	// hooks get in their environment as the test does.
	Env map[string]string
	// Shares are the host directories QEMU serves to the guest over 9p:
	// the share directives', then the options' (share.go).
	Shares []Share
	// Storage are the disks served by qemu-storage-daemon (storage.go).
	Storage []StorageDisk
}

// Digest hashes the host side for the verdict cache: the kconfig items,
// the QEMU arguments and the content of every hook script. The empty Host
// hashes to "" so that cuts without host directives keep their old keys.
func (h *Host) Digest() (string, error) {
	if len(h.Kconfig) == 0 && len(h.QEMUArgs) == 0 && len(h.Hooks) == 0 && len(h.Storage) == 0 {
		return "", nil
	}
	s := sha256.New()
	fmt.Fprintf(s, "kconfig %q\nqemu-arg %q\n", h.Kconfig, h.QEMUArgs)
	for _, d := range h.Storage {
		fmt.Fprintf(s, "storage-daemon %s %d %s %q\n", d.Name, d.Size, d.Export, d.Options)
	}
	for _, p := range h.Hooks {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read host-hook: %w", err)
		}
		fmt.Fprintf(s, "hook %s %x\n", filepath.Base(p), sha256.Sum256(b))
	}
	return fmt.Sprintf("%x", s.Sum(nil)), nil
}

// ScanHost reads only the host side of o's manifest (following includes),
// without resolving programs or modules: the build needs the kconfig items
// before there is a kernel to cut an image for.
func ScanHost(o Options) (*Host, error) {
	r := &resolver{o: o, plan: &Plan{Image: newImage()}, seen: map[string]bool{}, active: map[string]bool{}, scanOnly: true}
	src, text, err := r.top()
	if err != nil {
		return nil, err
	}
	if err := r.manifest(src, text, 0); err != nil {
		return nil, err
	}
	if err := finishShares(&r.plan.Host, o); err != nil {
		return nil, err
	}
	r.plan.Host.Env = r.configEnv(nil)
	return &r.plan.Host, nil
}

// top finds the manifest Resolve starts from.
func (r *resolver) top() (string, []byte, error) {
	if r.o.Manifest != "" {
		text, err := os.ReadFile(r.o.Manifest)
		if err != nil {
			return "", nil, fmt.Errorf("read cut manifest: %w", err)
		}
		return r.o.Manifest, text, nil
	}
	name := r.o.Name
	if name == "" {
		name = "boot"
		if r.o.Script != "" || len(r.o.Command) > 0 {
			name = "script"
		}
	}
	return Find(name, r.o.SearchPath)
}

var (
	kconfigItem = regexp.MustCompile(`^CONFIG_[A-Za-z0-9_]+=(y|m|n|-?[0-9]+|0x[0-9a-fA-F]+|"[^"]*")$`)
	configKey   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z][a-zA-Z0-9-]*)+$`)
	varRef      = regexp.MustCompile(`\$\{?(RAPIDO_[A-Z0-9_]+)\}?`)
)

// ConfigEnv is the guest environment variable a config directive's key is
// exported as: fstests.src -> RAPIDO_FSTESTS_SRC.
func ConfigEnv(key string) string {
	return "RAPIDO_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// hostDirective handles the directives that are about the run rather than
// the image contents, and config; it reports whether verb was one of them.
func (r *resolver) hostDirective(src, verb string, args []string) (bool, error) {
	switch verb {
	case "kconfig":
		if len(args) == 0 {
			return true, fmt.Errorf("kconfig: want one or more CONFIG_X=VALUE items")
		}
		for _, a := range args {
			if !kconfigItem.MatchString(a) {
				return true, fmt.Errorf("kconfig: %q: want CONFIG_X=y, =m, =n, a number or a \"string\"", a)
			}
		}
		r.plan.Host.Kconfig = append(r.plan.Host.Kconfig, args...)
	case "qemu-arg":
		if len(args) == 0 {
			return true, fmt.Errorf("qemu-arg: want one or more QEMU arguments")
		}
		r.plan.Host.QEMUArgs = append(r.plan.Host.QEMUArgs, args...)
	case "host-hook":
		if len(args) != 1 {
			return true, fmt.Errorf("host-hook: want SCRIPT")
		}
		p := relative(src, args[0])
		if strings.HasPrefix(p, "builtin:") {
			return true, fmt.Errorf("host-hook: %s: built-in cuts cannot have host hooks", args[0])
		}
		fi, err := os.Stat(p)
		if err != nil {
			return true, fmt.Errorf("host-hook: %w", err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return true, fmt.Errorf("host-hook: %s: not an executable file", p)
		}
		abs, _ := filepath.Abs(p)
		r.plan.Host.Hooks = append(r.plan.Host.Hooks, abs)
	case "share":
		return true, r.shareDirective(src, args)
	case "storage-daemon":
		return true, r.storageDirective(args)
	case "config":
		if len(args) == 0 {
			return true, fmt.Errorf("config: want one or more KEY[=DEFAULT]")
		}
		for _, a := range args {
			key, def, hasDef := strings.Cut(a, "=")
			if !configKey.MatchString(key) {
				return true, fmt.Errorf("config: %q: want a key such as fstests.src (read as rapido.fstests.src)", key)
			}
			v, ok := "", false
			if r.o.Lookup != nil {
				v, ok = r.o.Lookup("rapido." + key)
			}
			if !ok && hasDef {
				v, ok = def, true
			}
			if r.vars == nil {
				r.vars = map[string]configVar{}
			}
			r.vars[ConfigEnv(key)] = configVar{key: key, value: v, set: ok}
		}
	default:
		return false, nil
	}
	return true, nil
}

type configVar struct {
	key, value string
	set        bool
}

// expand replaces $RAPIDO_X and ${RAPIDO_X} for variables declared by a
// config directive; other references are left alone (qemu-arg's
// $RAPIDO_RUNDIR is expanded at boot). A declared variable that is unset
// is an error naming the git config key to set.
func (r *resolver) expand(args []string) ([]string, error) {
	if len(r.vars) == 0 {
		return args, nil
	}
	out := make([]string, len(args))
	var errs []error
	for i, a := range args {
		out[i] = varRef.ReplaceAllStringFunc(a, func(m string) string {
			name := varRef.FindStringSubmatch(m)[1]
			v, ok := r.vars[name]
			if !ok {
				return m
			}
			if !v.set || v.value == "" {
				errs = append(errs, fmt.Errorf("$%s: rapido.%s is not set (git config rapido.%s <value>)", name, v.key, v.key))
			}
			return v.value
		})
	}
	return out, errors.Join(errs...)
}

// configEnv returns the guest environment of the config directives: every
// declared key that has a value.
func (r *resolver) configEnv(base map[string]string) map[string]string {
	if len(r.vars) == 0 {
		return base
	}
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for name, v := range r.vars {
		if _, ok := env[name]; !ok && v.set {
			env[name] = v.value
		}
	}
	return env
}
