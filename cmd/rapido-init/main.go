// Command rapido-init is git rapido's PID 1 in the test VM: the small
// static program a cut installs as /init (make build and make install build
// one per guest architecture, see docs/cuts.md). It does what git-rapido
// itself does as /init, and nothing else: run outside a VM git rapido
// booted, it refuses.
package main

import (
	"fmt"
	"os"

	"github.com/git-rapido/git-rapido/vmrun/guestinit"
)

func main() {
	if code, ok := guestinit.Entry(os.Args[0], os.Stderr); ok {
		os.Exit(code)
	}
	fmt.Fprintln(os.Stderr, "fatal: rapido-init is git rapido's guest init; it runs only as PID 1 of a git rapido test VM (booted with "+guestinit.Marker+"): run 'git rapido' on the host")
	os.Exit(128)
}
