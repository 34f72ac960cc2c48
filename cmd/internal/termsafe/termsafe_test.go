package termsafe

import "testing"

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"fix: a plain subject", "fix: a plain subject"},
		{`back\slash and ünïcode ✓`, `back\slash and ünïcode ✓`},
		{"fail\rok      ", `fail\rok      `},
		{"\x1b[32mok\x1b[0m", `\x1b[32mok\x1b[0m`},
		{"a\nb\tc\x00d\x7f", `a\nb\tc\x00d\x7f`},
		{"csi \u009b2J", `csi \u009b2J`},
		{"bidi \u202eevil\u2069", `bidi \u202eevil\u2069`},
		{"bad utf-8 \xff\xfe", `bad utf-8 \xff\xfe`},
		{"title \x1b]0;owned\a", `title \x1b]0;owned\a`},
	} {
		if got := Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
		if HasControl(c.in) != (c.in != c.want) {
			t.Errorf("HasControl(%q) = %v", c.in, HasControl(c.in))
		}
	}
}

func TestLine(t *testing.T) {
	if got := Line("step \x1b[2K done\n"); got != "step \\x1b[2K done\n" {
		t.Errorf("Line kept or lost the wrong newline: %q", got)
	}
	if got := Line("a\nb"); got != `a\nb` {
		t.Errorf("Line(%q) = %q", "a\nb", got)
	}
}
