package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/git-rapido/git-rapido/vmrun"
)

type netOptions struct {
	vms      int
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
				{"CONFIGURATION", `rapido.net.mode       none (default), user or bridge, for run and test
rapido.net.bridge     bridge name (default br0)
rapido.net.address    the bridge's address and prefix (default 192.168.155.1/24)
rapido.net.tapUser    user name or uid owning the taps (default: $SUDO_UID, else root)
rapido.net.macPrefix  five MAC octets; VM i gets PREFIX:0i (default 52:54:00:12:34)
rapido.net.vms        how many taps "net up" makes (default 2)
rapido.net.hostfwd    user mode: [tcp:|udp:]HOSTPORT:GUESTPORT forwarded from
                      127.0.0.1 only (multi-valued; VM i adds i-1 to HOSTPORT)`},
			},
			Flags: func(fs *pflag.FlagSet) {
				fs.IntVar(&o.vms, "vms", 0, "make or check `n` taps (rapido.net.vms, default 2)")
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
	if o.vms < 0 || o.vms > 99 {
		return Usagef("--vms: want 1 to 99, got %d", o.vms)
	}
	if o.vms > 0 {
		n.Taps = o.vms
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
