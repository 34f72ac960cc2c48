package cache

import (
	"context"
	"os"
	"sort"
)

// Pruned is one entry that Prune removes (or would remove).
type Pruned struct {
	Tree  string
	Entry Entry
}

// Prunable reports whether prune may drop e: an entry this user made on
// this machine whose log directory is gone. Other people's entries, and
// entries that do not say who made them, are never pruned: a fetch, prune
// and push must not delete the team's verdicts from the remote.
func Prunable(l *Local, e Entry, exists func(path string) bool) bool {
	return l.MadeHere(e) && e.LogDir != "" && !exists(e.LogDir)
}

// Prune removes the prunable entries (none when dryRun) and returns them,
// sorted by tree.
func (c *Cache) Prune(ctx context.Context, l *Local, dryRun bool) ([]Pruned, error) {
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	var out []Pruned
	for tree, es := range all {
		n := len(out)
		for _, e := range es {
			if Prunable(l, e, exists) {
				out = append(out, Pruned{Tree: tree, Entry: e})
			}
		}
		if dryRun || len(out) == n {
			continue
		}
		drop := func(e Entry) bool { return Prunable(l, e, exists) }
		if _, err := c.Remove(ctx, tree, drop); err != nil {
			return out, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Tree < out[j].Tree })
	return out, nil
}
