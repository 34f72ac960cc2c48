package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func optionSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Bool("dry-run", false, "")
	fs.Bool("trailer", true, "")
	fs.Bool("no-verify", false, "")
	fs.Bool("verify-all", false, "")
	fs.String("script", "", "")
	fs.String("scratch", "", "")
	fs.StringP("jobs", "j", "", "")
	fs.Int("repeat", 0, "")
	fs.Bool("re", false, "")
	return fs
}

func TestExpandOptions(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "--dry", want: "--dry-run"},
		{in: "--dry-run", want: "--dry-run"},
		{in: "--no-dry-run", want: "--dry-run=false"},
		{in: "--no-tr", want: "--trailer=false"},
		// A flag the command defines itself wins over the negation rule.
		{in: "--no-verify", want: "--no-verify"},
		{in: "--no-ver", err: "ambiguous option: no-ver (could be --no-verify or --no-verify-all)"},
		{in: "--scri x", want: "--script x"},
		{in: "--scri=x", want: "--script=x"},
		// An option's value is never expanded, nor anything after --.
		{in: "--script --dry", want: "--script --dry"},
		{in: "-j --dry", want: "-j --dry"},
		{in: "-- --dry", want: "-- --dry"},
		// An exact name wins over the longer names it prefixes.
		{in: "--re", want: "--re"},
		{in: "--rep 3", want: "--repeat 3"},
		{in: "--sc x", err: "ambiguous option: sc (could be --scratch or --script)"},
		{in: "--no-dry-run=1", err: "option `no-dry-run' takes no value"},
		// Unknown options are left for pflag to refuse.
		{in: "--bogus", want: "--bogus"},
		{in: "--no-script", want: "--no-script"},
	} {
		got, err := expandOptions(optionSet(), strings.Fields(tc.in))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%q → %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// -h prints the short usage and exits 129; --help the whole page, exit 0.
func TestShortUsageAndHelp(t *testing.T) {
	var out, errb strings.Builder
	env := &Env{Stdout: &out, Stderr: &errb, DashAt: -1}
	if code := Run(t.Context(), env, []string{"log", "-h"}); code != 129 {
		t.Errorf("log -h exit %d, want 129", code)
	}
	if !strings.HasPrefix(out.String(), "usage: git rapido log") || strings.Contains(out.String(), "DESCRIPTION") {
		t.Errorf("log -h printed:\n%s", out.String())
	}
	out.Reset()
	if code := Run(t.Context(), env, []string{"log", "--help"}); code != 0 {
		t.Errorf("log --help exit %d, want 0", code)
	}
	if !strings.Contains(out.String(), "DESCRIPTION") {
		t.Errorf("log --help printed:\n%s", out.String())
	}
	out.Reset()
	// An abbreviation of --help is still the page.
	if code := Run(t.Context(), env, []string{"log", "--hel"}); code != 0 || !strings.Contains(out.String(), "DESCRIPTION") {
		t.Errorf("log --hel exit %d:\n%s", code, out.String())
	}
}
