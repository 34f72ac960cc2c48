package guest

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// Boot is the per-VM identity the host passes on the kernel command line.
// Several VMs boot the same image, so what differs between them (address,
// hostname, index) cannot live in the image's Spec.
//
//	rapido.net=ADDR/PREFIX[,GATEWAY] rapido.hostname=rapido1 rapido.vm=1
//	rapido.peers=ADDR1,ADDR2,...
type Boot struct {
	Addr     netip.Prefix // eth0's address; invalid when the VM has no network
	Gateway  netip.Addr   // default route; invalid for none
	Hostname string
	VM       int // 1-based index, 0 when not given
	Peers    []netip.Addr
}

// ParseCmdline reads the rapido.* parameters of a kernel command line.
// Unknown parameters are ignored; a malformed rapido parameter is an error
// naming it, and the rest is still parsed.
func ParseCmdline(cmdline string) (Boot, error) {
	var b Boot
	var errs []string
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		// Kernel parameters, not git config keys: matched without their
		// "rapido." prefix.
		name, ok := strings.CutPrefix(k, "rapido.")
		if !ok {
			continue
		}
		switch name {
		case "net":
			a, gw, hasGW := strings.Cut(v, ",")
			p, err := netip.ParsePrefix(a)
			if err != nil {
				errs = append(errs, f)
				continue
			}
			b.Addr = p
			if hasGW {
				if b.Gateway, err = netip.ParseAddr(gw); err != nil {
					errs = append(errs, f)
				}
			}
		case "hostname":
			b.Hostname = v
		case "vm":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, f)
				continue
			}
			b.VM = n
		case "peers":
			for _, s := range strings.Split(v, ",") {
				a, err := netip.ParseAddr(s)
				if err != nil {
					errs = append(errs, f)
					break
				}
				b.Peers = append(b.Peers, a)
			}
		}
	}
	if len(errs) > 0 {
		return b, fmt.Errorf("bad kernel parameters: %s", strings.Join(errs, " "))
	}
	return b, nil
}

// Env is the test's view of the VM's identity.
func (b Boot) Env() map[string]string {
	env := map[string]string{}
	if b.VM > 0 {
		env["RAPIDO_VM"] = strconv.Itoa(b.VM)
	}
	if len(b.Peers) > 0 {
		env["RAPIDO_VMS"] = strconv.Itoa(len(b.Peers))
		ps := make([]string, len(b.Peers))
		for i, p := range b.Peers {
			ps[i] = p.String()
		}
		env["RAPIDO_PEERS"] = strings.Join(ps, " ")
	}
	if b.Addr.IsValid() {
		env["RAPIDO_IP"] = b.Addr.Addr().String()
	}
	if b.Gateway.IsValid() {
		env["RAPIDO_GATEWAY"] = b.Gateway.String()
	}
	return env
}

// readBoot parses /proc/cmdline.
func readBoot() (Boot, error) {
	c, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return Boot{}, err
	}
	return ParseCmdline(string(c))
}

// configureNet brings lo up and, when the host asked for it, gives eth0
// its address and default route: no DHCP, no userspace tools needed.
func configureNet(console io.Writer, b Boot) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	if !b.Addr.IsValid() {
		return
	}
	if err := setupEth(b); err != nil {
		fmt.Fprintf(console, "rapido-init: network: %v\n", err)
	}
}

func setupEth(b Boot) error {
	// A built-in virtio-net driver has probed before /init runs; a
	// module may take a moment.
	var eth netlink.Link
	var err error
	for i := 0; i < 40; i++ {
		if eth, err = netlink.LinkByName("eth0"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("eth0: %w (is CONFIG_VIRTIO_NET enabled?)", err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: b.Addr.Addr().AsSlice(), Mask: net.CIDRMask(b.Addr.Bits(), 32)}}
	if err := netlink.AddrReplace(eth, addr); err != nil {
		return fmt.Errorf("eth0: add %s: %w", b.Addr, err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("eth0: set up: %w", err)
	}
	if b.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: b.Gateway.AsSlice()}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("eth0: default route via %s: %w", b.Gateway, err)
		}
	}
	return nil
}
