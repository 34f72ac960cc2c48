package vmrun

import "github.com/git-rapido/git-rapido/vmrun/internal/guest"

// GuestMain is the test VM's PID 1: git-rapido copied into the image as /init.
func GuestMain() int { return guest.Main() }
