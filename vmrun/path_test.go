package vmrun

import "testing"

func TestResolvePath(t *testing.T) {
	for _, c := range []struct{ base, in, home, want string }{
		{"/top", "~/cuts", "/home/u", "/home/u/cuts"},
		{"/top", "~", "/home/u", "/home/u"},
		{"/top", "cuts", "/home/u", "/top/cuts"},
		{"/top", " /abs/x ", "/home/u", "/abs/x"},
		{"/top", "~other/x", "/home/u", "/top/~other/x"},
		{"", "rel", "/home/u", "rel"},
		{"/top", "~/x", "", "/top/~/x"},
	} {
		if got := ResolvePath(c.base, c.in, c.home); got != c.want {
			t.Errorf("ResolvePath(%q, %q, %q) = %q, want %q", c.base, c.in, c.home, got, c.want)
		}
	}
}
