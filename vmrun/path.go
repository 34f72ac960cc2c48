package vmrun

import (
	"path/filepath"
	"strings"
)

// Path-valued configuration is read the way git reads pathnames (git
// config --type=path): a leading "~/" is the home directory. These two
// functions are the one home of that rule; the command layer uses them too.

// ExpandPath expands a leading "~/" (or a lone "~") to home. Surrounding
// blanks are dropped; other values come back as they are, and so does
// everything when home is "".
func ExpandPath(p, home string) string {
	p = strings.TrimSpace(p)
	if home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return filepath.Join(home, rest)
	}
	return p
}

// ResolvePath is ExpandPath followed by making a relative path relative to
// base (the worktree top for rapido.* paths), not to the current directory.
func ResolvePath(base, p, home string) string {
	p = ExpandPath(p, home)
	if !filepath.IsAbs(p) && base != "" {
		p = filepath.Join(base, p)
	}
	return p
}
