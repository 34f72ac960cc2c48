package gitpath

import "testing"

func TestResolve(t *testing.T) {
	for _, c := range []struct{ base, in, home, want string }{
		{"/top", "~/cuts", "/home/u", "/home/u/cuts"},
		{"/top", "~", "/home/u", "/home/u"},
		{"/top", "cuts", "/home/u", "/top/cuts"},
		{"/top", " /abs/x ", "/home/u", "/abs/x"},
		{"/top", "~other/x", "/home/u", "/top/~other/x"},
		{"", "rel", "/home/u", "rel"},
		{"/top", "~/x", "", "/top/~/x"},
	} {
		if got := Resolve(c.base, c.in, c.home); got != c.want {
			t.Errorf("Resolve(%q, %q, %q) = %q, want %q", c.base, c.in, c.home, got, c.want)
		}
	}
}
