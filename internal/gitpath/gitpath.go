// Package gitpath reads path-valued configuration the way git reads
// pathnames (git config --type=path): a leading "~/" is the home
// directory. It is the one home of that rule for every package.
package gitpath

import (
	"path/filepath"
	"strings"
)

// Expand expands a leading "~/" (or a lone "~") to home. Surrounding blanks
// are dropped; other values come back as they are, and so does everything
// when home is "".
func Expand(p, home string) string {
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

// Resolve is Expand followed by making a relative path relative to base
// (the worktree top for rapido.* paths), not to the current directory.
func Resolve(base, p, home string) string {
	p = Expand(p, home)
	if !filepath.IsAbs(p) && base != "" {
		p = filepath.Join(base, p)
	}
	return p
}
