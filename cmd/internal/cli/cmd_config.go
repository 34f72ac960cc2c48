package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

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
	for _, k := range vmrun.Keys {
		known[strings.ToLower(k.Name)] = true
		if k.Env != "" && env.Getenv(k.Env) != "" {
			out = append(out, configValue{k.Name, env.Getenv(k.Env), "env:" + k.Env})
			continue
		}
		set := false
		for _, e := range cfg.Entries {
			// A row with a <name> segment shows each key it stands for.
			if ek, ok := vmrun.LookupKey(e.Key); ok && ek.Name == k.Name && strings.HasPrefix(strings.ToLower(e.Key), "rapido.") {
				name := k.Name
				if strings.Contains(name, "<name>") {
					name = e.Key
				}
				out = append(out, configValue{name, e.Value, e.Scope + " " + e.Origin})
				set = true
			}
		}
		if !set && all {
			out = append(out, configValue{k.Name, k.ShownDefault(), "default"})
		}
	}
	var unknown []configValue
	for _, e := range cfg.Entries {
		if _, ok := vmrun.LookupKey(e.Key); strings.HasPrefix(e.Key, "rapido.") && !ok && !known[strings.ToLower(e.Key)] && !knownPrefix(e.Key) {
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
	for _, v := range out {
		if k, ok := vmrun.LookupKey(v.Key); ok && v.Origin != "default" && !k.Multi {
			if err := k.Check(v.Value); err != nil {
				fmt.Fprintf(env.Stderr, "warning: %s (set in %s): %v\n", v.Key, v.Origin, err)
			}
		}
	}
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
