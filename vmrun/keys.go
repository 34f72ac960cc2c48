package vmrun

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
	"github.com/git-rapido/git-rapido/vmrun/internal/netdev"
)

// Key is one rapido.* configuration key. Keys is the one table of them:
// SpecFromConfig reads its defaults and checks values with it, the command
// line checks flag values with it (Spec.Set), "git rapido config" and the
// help text print it, and a test keeps the table in docs/configuration.md equal to it.
type Key struct {
	Name string
	Env  string // an environment variable that overrides the key
	// Default is the value used when the key is unset; the code reads it
	// from here. DefaultDoc describes a default computed at run time (the
	// CPU count, user.name <user.email>) and is shown instead.
	Default, DefaultDoc string
	Kind                Kind
	Choices             []string // the accepted values of a Choice key
	Max                 int      // the largest value of a Count key; 0: no limit
	Multi               bool
	Doc                 string // one line
}

// Kind says what values a key accepts (see Key.Check).
type Kind string

// The kinds of values.
const (
	Text     Kind = "text"     // anything
	Path     Kind = "path"     // a file or directory; ~/ is the home directory
	Count    Kind = "count"    // a positive whole number
	Duration Kind = "duration" // 90s, 5m or plain seconds; at least 1s
	Size     Kind = "size"     // 512M, 2G, 1.5G (QEMU's -m)
	Choice   Kind = "choice"   // one of Choices
)

// Keys lists every rapido.* key git rapido reads, in the order "git rapido
// config" and docs/configuration.md show them.
var Keys = []Key{
	{Name: "rapido.buildDir", Kind: Path, DefaultDoc: "$(git rev-parse --git-path rapido/build)", Doc: "out-of-tree build directory"},
	{Name: "rapido.jobs", Kind: Count, DefaultDoc: "CPU count", Doc: "make -j"},
	{Name: "rapido.kernelConfig", Kind: Text, Default: "tinyconfig", Doc: "base config: a make target (tinyconfig, defconfig, x86_64_defconfig...) or a file"},
	{Name: "rapido.kconfig", Kind: Text, Multi: true, Doc: "extra kconfig: fragment files or CONFIG_X=y items"},
	{Name: "rapido.arch", Env: "ARCH", Kind: Choice, Choices: archChoices(), DefaultDoc: kbuild.DefaultArch, Doc: "x86_64 or arm64"},
	{Name: "rapido.crossCompile", Env: "CROSS_COMPILE", Kind: Text, Doc: "toolchain prefix"},
	{Name: "rapido.llvm", Env: "LLVM", Kind: Text, Doc: "build with LLVM"},
	{Name: "rapido.cc", Env: "CC", Kind: Text, Doc: "compiler"},
	{Name: "rapido.makeWrapper", Kind: Text, Doc: "command put in front of make (distributes no compile: see rapido.compilerLauncher)"},
	{Name: "rapido.compilerLauncher", Kind: Text, Doc: "icecc or distcc (a name or path): runs every compile, behind ccache; -j from the cluster"},
	{Name: "rapido.cut", Kind: Text, DefaultDoc: "boot", Doc: "default cut (script when a test is given)"},
	{Name: "rapido.cutPath", Kind: Path, Multi: true, Doc: "directories searched for <name>.cut manifests"},
	{Name: "rapido.qemu", Env: "RAPIDO_QEMU", Kind: Text, DefaultDoc: "qemu-system-<arch>", Doc: "the QEMU binary"},
	{Name: "rapido.memory", Kind: Size, Default: "512M", Doc: "guest memory"},
	{Name: "rapido.cpus", Kind: Count, Default: "1", Doc: "guest CPUs"},
	{Name: "rapido.accel", Kind: Choice, Choices: []string{"auto", "kvm", "tcg"}, Default: "auto", Doc: "auto, kvm or tcg"},
	{Name: "rapido.kernelArgs", Kind: Text, Doc: "extra kernel command line"},
	{Name: "rapido.qemuExtraArgs", Kind: Text, Doc: "extra QEMU arguments"},
	{Name: "rapido.timeout", Kind: Duration, Default: "10m", Doc: "overall test timeout"},
	{Name: "rapido.warnings", Kind: Choice, Choices: []string{WarningsWarn, WarningsFail}, Default: WarningsWarn, Doc: "a build that adds compiler warnings: warn, or fail the commit"},
	{Name: "rapido.bootTimeout", Kind: Duration, Default: "60s", Doc: "no console output before /init: hung"},
	{Name: "rapido.net.mode", Kind: Choice, Choices: []string{NetNone, NetUser, NetBridge}, Default: NetNone, Doc: "VM network: none, user or bridge"},
	{Name: "rapido.net.bridge", Kind: Text, Default: netdev.DefaultBridge, Doc: "bridge made by git rapido net up"},
	{Name: "rapido.net.address", Kind: Text, Default: netdev.DefaultAddress, Doc: "the bridge's address; VM i gets .100+i"},
	{Name: "rapido.net.tapUser", Kind: Text, DefaultDoc: "$SUDO_UID, else root", Doc: "user (name or uid) owning the taps"},
	{Name: "rapido.net.macPrefix", Kind: Text, Default: netdev.DefaultMACPrefix, Doc: "five MAC octets; VM i gets PREFIX:0i"},
	{Name: "rapido.net.vms", Kind: Count, Max: 99, Default: "2", Doc: "taps made by git rapido net up"},
	{Name: "rapido.net.hostfwd", Kind: Text, Multi: true, Doc: "user mode: [tcp:|udp:]HOSTPORT:GUESTPORT from 127.0.0.1"},
	{Name: "rapido.testedBy", Kind: Text, DefaultDoc: "user.name <user.email>", Doc: "the Tested-by: value"},
	{Name: "rapido.reviewedBy", Kind: Text, DefaultDoc: "user.name <user.email>", Doc: "the Reviewed-by: value"},
	{Name: "rapido.ackedBy", Kind: Text, DefaultDoc: "user.name <user.email>", Doc: "the Acked-by: value"},
	{Name: "rapido.signingKey", Kind: Path, Doc: "armored OpenPGP secret key that signs verdicts"},
	{Name: "rapido.trustedKeys", Kind: Path, Multi: true, Doc: "armored keyring files of trusted public keys"},
	{Name: "rapido.keyringRef", Kind: Text, Doc: "a full ref name (refs/...) whose .rapido/keys/*.asc are trusted keys"},
	{Name: "rapido.attest", Kind: Choice, Choices: []string{"trailer", "notes"}, Default: "trailer", Doc: "where attestations go: trailer (in the message) or notes"},
	{Name: "rapido.selfTrailer", Kind: Choice, Choices: []string{"add", "warn", "skip"}, Default: "warn", Doc: "a Tested-by on a commit you authored or signed off: add, warn or skip"},
	{Name: "rapido.policy.require", Kind: Text, Multi: true, Doc: "hooks: <trailer key>[:<ref glob>] required on pushed commits"},
	{Name: "rapido.policy.allow", Kind: Text, Default: "unsigned", Doc: "hooks: statuses let through besides ok"},
	{Name: "rapido.remote.<name>.url", Kind: Text, Doc: "git rapido remote test: the ssh URL of another machine's clone, ssh://[user@]host[:port]/path or host:path"},
	{Name: "rapido.fastBoot", Env: "RAPIDO_FAST_BOOT", Kind: Choice, Choices: []string{"auto", "off"}, Default: "auto", Doc: "auto: boot vmlinux at its PVH entry (on microvm when the kernel has virtio-mmio) where QEMU and the kernel allow; off: QEMU's defaults"},
	{Name: "rapido.sysroot", Env: "RAPIDO_SYSROOT", Kind: Path, Doc: "root of the guest's programs and libraries (for another architecture)"},
	{Name: "rapido.shareTransport", Env: "RAPIDO_SHARE_TRANSPORT", Kind: Choice, Choices: []string{"auto", "9p", "virtiofs"}, Default: "auto", Doc: "how shares reach the guest: auto (virtiofs when a virtiofsd is installed, else 9p), 9p, or virtiofs (cannot test without a virtiofsd)"},
}

// archChoices are kbuild's architectures and x86, which means x86_64 (as
// ARCH=x86 does for the kernel's own make).
func archChoices() []string {
	var c []string
	for a := range kbuild.Arches {
		c = append(c, a)
	}
	sort.Strings(c)
	return append(c, "x86")
}

// LookupKey finds a key by name, ignoring case as git does. A row whose
// name has a "<name>" segment (rapido.remote.<name>.url) stands for every
// key with one or more segments there.
func LookupKey(name string) (Key, bool) {
	for _, k := range Keys {
		if strings.EqualFold(k.Name, name) {
			return k, true
		}
		if pre, post, ok := strings.Cut(k.Name, "<name>"); ok && len(name) > len(pre)+len(post) &&
			strings.EqualFold(name[:len(pre)], pre) && strings.EqualFold(name[len(name)-len(post):], post) {
			return k, true
		}
	}
	return Key{}, false
}

// key is LookupKey for names written in the code: an unknown one is a bug,
// which TestKeysUsedAreKnown catches.
func key(name string) Key {
	k, ok := LookupKey(name)
	if !ok {
		panic("vmrun: unknown configuration key " + name)
	}
	return k
}

// ShownDefault is the default as "git rapido config" and the help print it.
func (k Key) ShownDefault() string {
	if k.DefaultDoc != "" {
		return k.DefaultDoc
	}
	return k.Default
}

// CheckValue checks value for the key name (see Key.Check).
func CheckValue(name, value string) error {
	k, ok := LookupKey(name)
	if !ok {
		return fmt.Errorf("unknown key %s", name)
	}
	return k.Check(value)
}

// Check is the one check of a value of k, wherever it comes from (git
// config, the environment, a flag). The error says what is accepted and
// quotes the value; the caller puts the key's or the flag's name in front.
func (k Key) Check(v string) error {
	switch k.Kind {
	case Count:
		_, err := k.Int(v)
		return err
	case Duration:
		_, err := parseTimeout(v)
		return err
	case Size:
		return checkSize(v)
	case Choice:
		for _, c := range k.Choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("want %s, got %q", orList(k.Choices), v)
	}
	return nil
}

func orList(c []string) string {
	if len(c) < 2 {
		return strings.Join(c, "")
	}
	return strings.Join(c[:len(c)-1], ", ") + " or " + c[len(c)-1]
}

// Int reads a value of a Count key.
func (k Key) Int(v string) (int, error) {
	n, err := parseCount(v)
	if err == nil && k.Max > 0 && n > k.Max {
		return 0, fmt.Errorf("want a number from 1 to %d, got %q", k.Max, v)
	}
	return n, err
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("want a positive number, got %q", v)
	}
	return n, nil
}

// parseTimeout reads a timeout. A negative or zero one would turn hang
// detection off and one under a second is zero to the guest, so both are
// refused rather than silently meaning "never".
func parseTimeout(v string) (time.Duration, error) {
	d, err := ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("want a duration of at least 1s such as 90s or 5m, got %q", v)
	}
	return d, nil
}

// sizeValue is QEMU's -m size: a number of MiB, or with a K, M, G or T
// suffix.
var sizeValue = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?)([KMGTkmgt]?)$`)

func checkSize(v string) error {
	m := sizeValue.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("want a size such as 512M or 2G, got %q", v)
	}
	if f, err := strconv.ParseFloat(m[1], 64); err != nil || f <= 0 {
		return fmt.Errorf("want a size such as 512M or 2G, got %q", v)
	}
	return nil
}

// Set checks value as the key's and puts it into the Spec. Git config
// (SpecFromConfig) and the command line's flags both set the VM settings
// through here, so a value is refused alike, with the same words, wherever
// it comes from.
func (s *Spec) Set(name, value string) error {
	k := key(name)
	if err := k.Check(value); err != nil {
		return err
	}
	var err error
	switch k.Name {
	case "rapido.timeout":
		s.Timeout, err = parseTimeout(value)
	case "rapido.bootTimeout":
		s.BootTimeout, err = parseTimeout(value)
	case "rapido.accel":
		s.QEMU.Accel = value
	case "rapido.memory":
		s.QEMU.Memory = value
	case "rapido.cpus":
		s.QEMU.CPUs, err = k.Int(value)
	case "rapido.jobs":
		s.Build.Jobs, err = k.Int(value)
	case "rapido.net.mode":
		s.Net.Mode = value
	case "rapido.warnings":
		s.Warnings = value
	case "rapido.fastBoot":
		s.QEMU.FastBoot = value
	case "rapido.shareTransport":
		s.QEMU.ShareTransport = value
	default:
		return fmt.Errorf("%s is not a setting of a run", k.Name)
	}
	return err
}
