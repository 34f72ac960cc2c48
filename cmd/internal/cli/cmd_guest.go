package cli

import "github.com/git-rapido/git-rapido/vmrun"

// The same static binary is the test VM's /init: Main hands over to the
// guest side when it is PID 1 of a VM git rapido booted.
func init() { RegisterGuest(vmrun.GuestEntry) }
