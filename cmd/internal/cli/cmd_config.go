package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

// configKey documents one rapido.* key. This table is the one list of keys:
// "git rapido config" prints it, and a test checks that the README's
// configuration table names exactly these keys.
type configKey struct {
	Key     string
	Env     string // an environment variable that overrides the key
	Default string
	Help    string
	Multi   bool
}

var configKeys = []configKey{
	{Key: "rapido.buildDir", Default: "$(git rev-parse --git-path rapido/build)", Help: "out-of-tree build directory"},
	{Key: "rapido.jobs", Default: "CPU count", Help: "make -j"},
	{Key: "rapido.kernelConfig", Default: "tinyconfig", Help: "base config: tinyconfig, defconfig or a file"},
	{Key: "rapido.kconfig", Multi: true, Help: "extra kconfig: fragment files or CONFIG_X=y items"},
	{Key: "rapido.arch", Env: "ARCH", Default: "x86_64", Help: "x86_64 or arm64"},
	{Key: "rapido.crossCompile", Env: "CROSS_COMPILE", Help: "toolchain prefix"},
	{Key: "rapido.llvm", Env: "LLVM", Help: "build with LLVM"},
	{Key: "rapido.cc", Env: "CC", Help: "compiler"},
	{Key: "rapido.makeWrapper", Help: "command put in front of make (icecc, distcc...)"},
	{Key: "rapido.cut", Default: "boot", Help: "default cut"},
	{Key: "rapido.cutPath", Multi: true, Help: "directories searched for <name>.cut manifests"},
	{Key: "rapido.qemu", Env: "RAPIDO_QEMU", Default: "qemu-system-<arch>", Help: "the QEMU binary"},
	{Key: "rapido.memory", Default: "512M", Help: "guest memory"},
	{Key: "rapido.cpus", Default: "1", Help: "guest CPUs"},
	{Key: "rapido.accel", Default: "auto", Help: "auto, kvm or tcg"},
	{Key: "rapido.kernelArgs", Help: "extra kernel command line"},
	{Key: "rapido.qemuExtraArgs", Help: "extra QEMU arguments"},
	{Key: "rapido.timeout", Default: "10m", Help: "overall test timeout"},
	{Key: "rapido.bootTimeout", Default: "60s", Help: "no console output before /init: hung"},
	{Key: "rapido.net.mode", Default: "none", Help: "VM network: none, user or bridge"},
	{Key: "rapido.net.bridge", Default: "br0", Help: "bridge made by git rapido net up"},
	{Key: "rapido.net.address", Default: "192.168.155.1/24", Help: "the bridge's address; VM i gets .100+i"},
	{Key: "rapido.net.tapUser", Default: "$SUDO_UID, else root", Help: "user (name or uid) owning the taps"},
	{Key: "rapido.net.macPrefix", Default: "52:54:00:12:34", Help: "five MAC octets; VM i gets PREFIX:0i"},
	{Key: "rapido.net.vms", Default: "2", Help: "taps made by git rapido net up"},
	{Key: "rapido.net.hostfwd", Multi: true, Help: "user mode: [tcp:|udp:]HOSTPORT:GUESTPORT from 127.0.0.1"},
	{Key: "rapido.testedBy", Default: "user.name <user.email>", Help: "the Tested-by: value"},
	{Key: "rapido.reviewedBy", Default: "user.name <user.email>", Help: "the Reviewed-by: value"},
	{Key: "rapido.ackedBy", Default: "user.name <user.email>", Help: "the Acked-by: value"},
	{Key: "rapido.signingKey", Help: "armored OpenPGP secret key that signs verdicts"},
	{Key: "rapido.trustedKeys", Multi: true, Help: "armored keyring files of trusted public keys"},
	{Key: "rapido.keyringRef", Help: "a full ref name (refs/...) whose .rapido/keys/*.asc are trusted keys"},
	{Key: "rapido.policy.require", Multi: true, Help: "hooks: <trailer key>[:<ref glob>] required on pushed commits"},
	{Key: "rapido.policy.allow", Default: "unsigned", Help: "hooks: statuses let through besides ok"},
}

type configValue struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Origin string `json:"origin"` // "default", "env:VAR", or git's origin with its scope
}

func init() {
	Register(func() *Command {
		var asJSON, all bool
		return &Command{
			Name:     "config",
			Synopsis: []string{"config [--all] [--json]"},
			Short:    "show the effective git rapido configuration and where each value comes from",
			Long: `Prints every rapido.* setting with its effective value and where the value
comes from: the git config file and scope that set it (as "git config
--show-origin --show-scope" says), the environment variable that overrides it,
or git rapido's default. Set values that git rapido does not know are listed
with a warning, so a misspelled key does not go unnoticed.

Without --all, only keys that are set (in git config or the environment) are
shown.`,
			Flags: func(fs *pflag.FlagSet) {
				fs.BoolVar(&all, "all", false, "also show keys left at their defaults")
				fs.BoolVar(&asJSON, "json", false, "print a JSON array for scripts")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				if len(args) > 0 {
					return Usagef("config takes no arguments; use git config to change a value")
				}
				return runConfig(ctx, env, all, asJSON)
			},
		}
	})
}

func runConfig(ctx context.Context, env *Env, all, asJSON bool) error {
	cfg, err := env.Config(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	var out []configValue
	for _, k := range configKeys {
		known[strings.ToLower(k.Key)] = true
		if k.Env != "" && env.Getenv(k.Env) != "" {
			out = append(out, configValue{k.Key, env.Getenv(k.Env), "env:" + k.Env})
			continue
		}
		set := false
		for _, e := range cfg.Entries {
			if strings.EqualFold(e.Key, k.Key) {
				out = append(out, configValue{k.Key, e.Value, e.Scope + " " + e.Origin})
				set = true
			}
		}
		if !set && all {
			out = append(out, configValue{k.Key, k.Default, "default"})
		}
	}
	var unknown []configValue
	for _, e := range cfg.Entries {
		if strings.HasPrefix(e.Key, "rapido.") && !known[strings.ToLower(e.Key)] && !knownPrefix(e.Key) {
			unknown = append(unknown, configValue{e.Key, e.Value, e.Scope + " " + e.Origin})
		}
	}
	sort.SliceStable(unknown, func(i, j int) bool { return unknown[i].Key < unknown[j].Key })
	if asJSON {
		b, _ := json.MarshalIndent(append(out, unknown...), "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 8, 2, ' ', 0)
	for _, v := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Key, v.Value, v.Origin)
	}
	tw.Flush()
	for _, v := range unknown {
		fmt.Fprintf(env.Stderr, "warning: unknown key %s (set in %s); see 'git rapido config --all'\n", v.Key, v.Origin)
	}
	return nil
}

// knownPrefix accepts keys of sections whose names are open-ended (a cut's
// own settings, e.g. rapido.kselftest.targets).
func knownPrefix(key string) bool {
	for _, p := range configPrefixes {
		if strings.HasPrefix(strings.ToLower(key), strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// configPrefixes are subsections read by cuts and other subsystems.
var configPrefixes = []string{"rapido.kselftest.", "rapido.fstests."}
