package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

type netOptions struct {
	vms      string
	stateDir string
}

func init() {
	Register(func() *Command {
		o := &netOptions{}
		return &Command{
			Name:     "net",
			Synopsis: []string{"net up [--vms <n>]", "net down", "net status [--vms <n>]"},
			Short:    "set up, tear down or show the host bridge and taps for bridged VMs",
			Long: `Prepares the host side of "rapido.net.mode = bridge": an isolated bridge
(rapido.net.bridge, default br0) with the host's address on the VMs' network
(rapido.net.address, default 192.168.155.1/24), and one tap device per VM
(rapido-tap1, rapido-tap2, ...), owned by the user who will run QEMU
(rapido.net.tapUser; by default the user who ran sudo) and attached to the
bridge. Everything is done through netlink; no ip, brctl or tunctl is run.
The bridge does no NAT and no forwarding: VMs reach each other and the host,
nothing else.

up       create what is missing; running it again changes nothing
down     remove exactly what "up" created (a bridge that existed before is
         left as it was), recorded in a state file under /run/git-rapido
status   show the bridge and taps, what "up" would do, and what "down"
         would remove

Changing the network needs CAP_NET_ADMIN: run "sudo git rapido net up" once,
then "git rapido run" as the tap user. Each VM i gets the MAC
rapido.net.macPrefix:0i, the address .100+i of the bridge's network and the
hostname rapido<i>, set by git rapido's /init from the kernel command line;
no DHCP server is needed. The commands work in the current network
namespace, so "ip netns exec NS git rapido net up" prepares a namespace.`,
			Sections: []Section{
				{"EXIT STATUS", "0 done, 128 not permitted (no CAP_NET_ADMIN), a device in the way, or bad configuration"},
				{"CONFIGURATION", keyLines("rapido.net.mode", "rapido.net.bridge", "rapido.net.address",
					"rapido.net.tapUser", "rapido.net.macPrefix", "rapido.net.vms", "rapido.net.hostfwd") +
					"\n(VM i adds i-1 to each forward's HOSTPORT)"},
			},
			Flags: func(fs *pflag.FlagSet) {
				fs.StringVar(&o.vms, "vms", "", "make or check `n` taps "+keyNote("rapido.net.vms"))
				fs.StringVar(&o.stateDir, "state-dir", "", "keep the record of what up created in `dir` (default /run/git-rapido)")
			},
			Run: func(ctx context.Context, env *Env, args []string) error {
				return runNet(ctx, env, o, args)
			},
		}
	})
}

func runNet(ctx context.Context, env *Env, o *netOptions, args []string) error {
	if len(args) != 1 {
		return Usagef("want one of up, down or status")
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return err
	}
	n, err := vmrun.NetFromConfig(cfg)
	if err != nil {
		return err
	}
	if o.vms != "" {
		// The flag goes through the key's own check.
		k, _ := vmrun.LookupKey("rapido.net.vms")
		if n.Taps, err = k.Int(o.vms); err != nil {
			return Usagef("--vms: %v", err)
		}
	}
	dir := o.stateDir
	if dir == "" {
		dir = vmrun.NetStateDir()
	}
	var lines []string
	switch args[0] {
	case "up":
		lines, err = vmrun.NetUp(n, dir)
		if err == nil && len(lines) == 0 {
			fmt.Fprintf(env.Stderr, "rapido: %s and its %d taps are up already\n", n.Bridge, n.Taps)
		}
	case "down":
		lines, err = vmrun.NetDown(n, dir)
		if err == nil && len(lines) == 0 {
			fmt.Fprintf(env.Stderr, "rapido: nothing that git rapido created is left on %s\n", n.Bridge)
		}
	case "status":
		var s string
		s, err = vmrun.NetStatus(n, dir)
		fmt.Fprint(env.Stdout, s)
	default:
		return Usagef("unknown net action %q (want up, down or status)", args[0])
	}
	for _, l := range lines {
		fmt.Fprintln(env.Stdout, l)
	}
	if errors.Is(err, vmrun.ErrNetPermission) {
		return &ExitError{Code: 128, Err: err, Hint: "run it as root, e.g. \"sudo git rapido net " + args[0] + "\", or in a namespace you own"}
	}
	return err
}
