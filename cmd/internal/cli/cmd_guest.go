package cli

import "github.com/git-rapido/git-rapido/vmrun"

// The same static binary is the test VM's /init: Main hands over to the
// guest side when it runs as PID 1.
func init() { RegisterGuest(vmrun.GuestMain) }
