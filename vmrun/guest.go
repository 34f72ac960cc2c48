package vmrun

import (
	"io"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// GuestEntry runs the test VM's PID 1 (git-rapido copied into the image as
// /init when no rapido-init is found) when this process is it, or refuses to run as "init" anywhere
// else. It returns false for the ordinary host command.
func GuestEntry(argv0 string, stderr io.Writer) (int, bool) { return guest.Entry(argv0, stderr) }
