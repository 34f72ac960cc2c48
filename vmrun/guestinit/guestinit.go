// Package guestinit is the door to git rapido's guest side for the small
// dedicated init (cmd/rapido-init): it imports only the guest package, so
// the program copied into every image carries neither git, crypto nor the
// command line of git-rapido.
package guestinit

import (
	"io"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// Entry runs the guest when this process is PID 1 of a VM git rapido
// booted; it returns false anywhere else (see guest.Entry).
func Entry(argv0 string, stderr io.Writer) (int, bool) { return guest.Entry(argv0, stderr) }

// Marker is the kernel command-line parameter that marks such a VM.
const Marker = guest.KernelMarker
