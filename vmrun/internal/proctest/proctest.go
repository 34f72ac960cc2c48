// Package proctest holds process checks shared by the vmrun tests: whether
// a QEMU (or a fake of it) and its children really went away.
package proctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LiveInGroup reports whether a process other than a zombie is in the
// process group.
func LiveInGroup(pgid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}
