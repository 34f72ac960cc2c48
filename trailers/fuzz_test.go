package trailers

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// keyValues is what a re-parse must preserve.
func keyValues(b Block) [][2]string {
	var kv [][2]string
	for _, t := range b.Trailers() {
		kv = append(kv, [2]string{t.Key, t.Value})
	}
	return kv
}

// stableArgs reports whether every --trailer would print as a trailer that
// git itself reads back as one: a real token and a single-line value.
// Others ("foo bar", "K: a\nb") are kept by git as written and may turn the
// block into prose, which is git's behaviour, not an engine fault.
func stableArgs(args []Arg, cfg *Config) bool {
	for _, a := range args {
		if strings.ContainsAny(a.Text, "\n\r") || findSeparator(a.Text, "="+cfg.separators) < 1 {
			return false
		}
	}
	return true
}

func seedFuzz(f *testing.F) {
	for _, tc := range ruleCases {
		f.Add([]byte(tc.in), strings.Join(tc.args, "\x00"), uint8(len(tc.cfg)))
	}
	f.Add([]byte("subj\n\nA: 1\n---\n# ------------------------ >8 ------------------------\n"), "--trailer\x00T: x", uint8(0))
	f.Add([]byte("subj\r\n\r\nSigned-off-by: A\r\n\tcont\r\n"), "--trailer=K=v", uint8(0))
}

// FuzzProcess runs the option parser and the whole transformation on
// arbitrary input, arguments and one of the generator's configurations. It
// must never panic, and with the default configuration the output of a run
// must re-parse to the same trailers. (It is not a byte-wise fixed point:
// like git, every run adds an empty line before a missing block.)
func FuzzProcess(f *testing.F) {
	seedFuzz(f)
	f.Fuzz(func(t *testing.T, input []byte, args string, sel uint8) {
		var cfgItems []ConfigItem
		if sel%4 != 0 {
			cfgItems = genConfigs[int(sel)%len(genConfigs)]
		}
		cfg, err := NewConfig(cfgItems)
		if err != nil {
			return
		}
		inv, aerr := ParseArgs("git interpret-trailers", strings.Split(args, "\x00"))
		if aerr != nil {
			return
		}
		run := func(argv []string) ([]byte, error) { return []byte(" out of " + argv[len(argv)-1] + "\n"), nil }
		out, err := Process(input, inv.Options, cfg, inv.Args, run)
		if err != nil {
			t.Fatalf("Process: %v", err)
		}
		if sel%4 != 0 || inv.Options.OnlyTrailers || !stableArgs(inv.Args, cfg) {
			return
		}
		pin := Options{NoDivider: inv.Options.NoDivider}
		want := keyValues(ParseWith(out, cfg, pin))
		again, _ := Process(out, Options{OnlyInput: true, NoDivider: pin.NoDivider}, cfg, nil, nil)
		if got := keyValues(ParseWith(again, cfg, pin)); !cmp.Equal(got, want) {
			t.Fatalf("output %q re-parses to other trailers:\n%s", out, cmp.Diff(want, got))
		}
	})
}

// FuzzParse checks Parse on arbitrary messages: no panic, a block inside the
// message, and trailers that survive their own normalisation.
func FuzzParse(f *testing.F) {
	seedFuzz(f)
	f.Fuzz(func(t *testing.T, input []byte, _ string, sel uint8) {
		cfg := DefaultConfig()
		b := Parse(input, cfg)
		n := len(input)
		if n > 0 && input[n-1] != '\n' {
			n++
		}
		if b.Start < 0 || b.Start > b.End || b.End > n {
			t.Fatalf("block [%d,%d) outside the message of %d bytes", b.Start, b.End, n)
		}
		for _, tr := range b.Trailers() {
			if tr.Key == "" || strings.Contains(tr.Value, "\n") {
				t.Fatalf("bad trailer %#v", tr)
			}
		}
		out, _ := Process(input, Options{OnlyInput: true, NoDivider: true}, cfg, nil, nil)
		again, _ := Process(out, Options{OnlyInput: true, NoDivider: true}, cfg, nil, nil)
		if got, want := keyValues(Parse(again, cfg)), keyValues(Parse(out, cfg)); !cmp.Equal(got, want) {
			t.Fatalf("normalised %q re-parses to other trailers:\n%s", out, cmp.Diff(want, got))
		}
	})
}
