// Package netdev plans and applies git rapido's host network for bridged
// VMs: one bridge with an address, and one persistent tap device per VM,
// owned by the user who runs QEMU and attached to the bridge.
//
// Planning is pure: PlanUp compares the wanted network (Config) with what
// exists (Observed) and returns only the missing netlink operations;
// PlanDown undoes exactly the operations that an earlier "up" recorded in
// its State, and nothing that was there before. Apply performs operations
// through vishvananda/netlink in the calling thread's network namespace.
//
// The per-VM identity (MAC, address, hostname) is derived here too, so that
// "git rapido net up" and "git rapido run" agree on tap names and addresses
// without sharing any state.
package netdev

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Defaults, like rapido's own (BR_DEV, BR_ADDR), with QEMU's MAC prefix.
const (
	DefaultBridge    = "br0"
	DefaultAddress   = "192.168.155.1/24"
	DefaultMACPrefix = "52:54:00:12:34"
	// NoOwner is how Observe shows a tap that has no owner set (made by
	// "ip tuntap add" without "user").
	NoOwner = -1
	// guestHostBase puts VM i at host number guestHostBase+i of the bridge
	// network: 192.168.155.101, .102, ... as in rapido's net-conf examples.
	guestHostBase = 100
)

// Config is the wanted host network.
type Config struct {
	Bridge  string       // bridge name, e.g. br0
	Address netip.Prefix // the bridge's (host side) address, e.g. 192.168.155.1/24
	Taps    int          // number of VMs, one tap each
	// Owner and Group are the uid and gid that may open the taps
	// (rapido.net.tapUser and its primary group); 0 and 0 keep them for
	// root. The kernel checks both, so the group must be one the user is in.
	Owner, Group int
}

// Validate checks a Config before anything is planned.
func (c Config) Validate() error {
	if c.Bridge == "" || len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/ \t") {
		return fmt.Errorf("bridge name %q: want 1 to 15 characters without spaces or slashes", c.Bridge)
	}
	if !c.Address.IsValid() || !c.Address.Addr().Is4() {
		return fmt.Errorf("bridge address %s: want an IPv4 address with a prefix, e.g. %s", c.Address, DefaultAddress)
	}
	if c.Taps < 1 || c.Taps > 99 {
		return fmt.Errorf("tap count %d: want 1 to 99", c.Taps)
	}
	return nil
}

// TapName is the tap device of VM i (1-based).
func TapName(i int) string { return fmt.Sprintf("rapido-tap%d", i) }

// OpKind names one netlink operation.
type OpKind string

// The operations. Each "up" kind has an inverse that PlanDown uses.
const (
	AddBridge   OpKind = "add-bridge"   // ip link add NAME type bridge
	AddTap      OpKind = "add-tap"      // ip tuntap add NAME mode tap user OWNER
	AddAddr     OpKind = "add-addr"     // ip addr add ADDR dev NAME
	SetUp       OpKind = "set-up"       // ip link set NAME up
	SetMaster   OpKind = "set-master"   // ip link set NAME master MASTER
	DelLink     OpKind = "del-link"     // ip link del NAME
	DelAddr     OpKind = "del-addr"     // ip addr del ADDR dev NAME
	SetDown     OpKind = "set-down"     // ip link set NAME down
	SetNoMaster OpKind = "set-nomaster" // ip link set NAME nomaster
)

// Op is one planned netlink operation.
type Op struct {
	Kind   OpKind `json:"op"`
	Link   string `json:"link"`
	Addr   string `json:"addr,omitempty"`
	Master string `json:"master,omitempty"`
	Owner  *int   `json:"owner,omitempty"` // AddTap only
	Group  *int   `json:"group,omitempty"` // AddTap only
}

func (o Op) String() string {
	switch o.Kind {
	case AddBridge:
		return "ip link add " + o.Link + " type bridge"
	case AddTap:
		s := "ip tuntap add " + o.Link + " mode tap"
		if o.Owner != nil {
			s += fmt.Sprintf(" user %d", *o.Owner)
		}
		if o.Group != nil {
			s += fmt.Sprintf(" group %d", *o.Group)
		}
		return s
	case AddAddr:
		return "ip addr add " + o.Addr + " dev " + o.Link
	case DelAddr:
		return "ip addr del " + o.Addr + " dev " + o.Link
	case SetUp:
		return "ip link set " + o.Link + " up"
	case SetDown:
		return "ip link set " + o.Link + " down"
	case SetMaster:
		return "ip link set " + o.Link + " master " + o.Master
	case SetNoMaster:
		return "ip link set " + o.Link + " nomaster"
	case DelLink:
		return "ip link del " + o.Link
	}
	return string(o.Kind) + " " + o.Link
}

// Link is what exists of one network device.
type Link struct {
	Name   string
	Kind   string // "bridge", "tuntap", or another netlink kind
	TapTap bool   // a tuntap in tap (not tun) mode
	Owner  int    // tuntap owner uid, NoOwner if unset
	Up     bool   // administratively up
	Master string // the bridge it is attached to, "" if none
	Addrs  []netip.Prefix
}

// Observed maps device names to what exists; absent names do not exist.
type Observed map[string]Link

// Names lists the devices a Config concerns: the bridge and its taps.
func (c Config) Names() []string {
	names := []string{c.Bridge}
	for i := 1; i <= c.Taps; i++ {
		names = append(names, TapName(i))
	}
	return names
}

// PlanUp returns the operations that turn have into the network c wants,
// in order; nothing when it is there already. A device of the right name but
// the wrong kind is an error: it is not ours to change.
func PlanUp(c Config, have Observed) ([]Op, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var ops []Op
	br, ok := have[c.Bridge]
	switch {
	case !ok:
		ops = append(ops, Op{Kind: AddBridge, Link: c.Bridge})
		br = Link{Name: c.Bridge, Kind: "bridge"}
	case br.Kind != "bridge":
		return nil, fmt.Errorf("%s exists and is a %s device, not a bridge (set rapido.net.bridge to another name)", c.Bridge, br.Kind)
	}
	if !hasAddr(br.Addrs, c.Address) {
		for _, a := range br.Addrs {
			if a.Addr().Is4() && a.Masked() == c.Address.Masked() {
				return nil, fmt.Errorf("%s already has %s in the network of %s (set rapido.net.address to match)", c.Bridge, a, c.Address)
			}
		}
		ops = append(ops, Op{Kind: AddAddr, Link: c.Bridge, Addr: c.Address.String()})
	}
	if !br.Up {
		ops = append(ops, Op{Kind: SetUp, Link: c.Bridge})
	}
	for i := 1; i <= c.Taps; i++ {
		name := TapName(i)
		tap, ok := have[name]
		switch {
		case !ok:
			owner, group := c.Owner, c.Group
			ops = append(ops, Op{Kind: AddTap, Link: name, Owner: &owner, Group: &group})
			tap = Link{Name: name, Kind: "tuntap", TapTap: true, Owner: c.Owner}
		case tap.Kind != "tuntap" || !tap.TapTap:
			return nil, fmt.Errorf("%s exists and is not a tap device (delete it first)", name)
		case tap.Owner != c.Owner:
			return nil, fmt.Errorf("%s exists owned by %s, want %s (run \"git rapido net down\" or delete it first)",
				name, ownerString(tap.Owner), ownerString(c.Owner))
		}
		if tap.Master != c.Bridge {
			if tap.Master != "" {
				return nil, fmt.Errorf("%s is attached to %s, not %s", name, tap.Master, c.Bridge)
			}
			ops = append(ops, Op{Kind: SetMaster, Link: name, Master: c.Bridge})
		}
		if !tap.Up {
			ops = append(ops, Op{Kind: SetUp, Link: name})
		}
	}
	return ops, nil
}

func ownerString(uid int) string {
	if uid == NoOwner {
		return "no user"
	}
	return fmt.Sprintf("uid %d", uid)
}

func hasAddr(as []netip.Prefix, want netip.Prefix) bool {
	for _, a := range as {
		if a == want {
			return true
		}
	}
	return false
}

// PlanDown returns the operations that undo created (what "up" applied, in
// order) as far as it still exists in have: devices that up created are
// deleted (taking their addresses and attachments with them); on devices
// that were there before, only the address, up state and attachment that up
// added are taken back.
func PlanDown(created []Op, have Observed) []Op {
	deleted := map[string]bool{}
	for _, o := range created {
		if o.Kind == AddBridge || o.Kind == AddTap {
			deleted[o.Link] = true
		}
	}
	var ops []Op
	for i := len(created) - 1; i >= 0; i-- {
		o := created[i]
		l, exists := have[o.Link]
		if !exists {
			continue
		}
		switch o.Kind {
		case AddBridge, AddTap:
			ops = append(ops, Op{Kind: DelLink, Link: o.Link})
		case AddAddr:
			p, err := netip.ParsePrefix(o.Addr)
			if !deleted[o.Link] && err == nil && hasAddr(l.Addrs, p) {
				ops = append(ops, Op{Kind: DelAddr, Link: o.Link, Addr: o.Addr})
			}
		case SetUp:
			if !deleted[o.Link] && l.Up {
				ops = append(ops, Op{Kind: SetDown, Link: o.Link})
			}
		case SetMaster:
			if !deleted[o.Link] && l.Master == o.Master {
				ops = append(ops, Op{Kind: SetNoMaster, Link: o.Link})
			}
		}
	}
	// Attachments and addresses go first, then taps, then the bridge, so
	// that no deletion finds its device still in use.
	var first, taps, last []Op
	for _, o := range ops {
		switch {
		case o.Kind != DelLink:
			first = append(first, o)
		case have[o.Link].Kind == "tuntap":
			taps = append(taps, o)
		default:
			last = append(last, o)
		}
	}
	return append(append(first, taps...), last...)
}

// State is what "up" created, so that "down" removes exactly that.
type State struct {
	Bridge  string `json:"bridge"`
	Created []Op   `json:"created"`
}

// LoadState reads a state file; a missing file is an empty State.
func LoadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read network state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read network state: %s: %w", path, err)
	}
	return s, nil
}

// Save writes the state file atomically; an empty State removes it.
func (s State) Save(path string) error {
	if len(s.Created) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove network state: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write network state: %w", err)
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write network state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write network state: %w", err)
	}
	return nil
}

// Guest is one VM's network identity.
type Guest struct {
	Index    int          // 1-based
	Hostname string       // rapido1, rapido2, ...
	MAC      string       // MACPrefix + index
	Addr     netip.Prefix // in the bridge's network
	Gateway  netip.Addr   // the bridge address (the host side)
	Tap      string       // TapName(Index), for bridge mode
}

// Guests derives the identities of n VMs on the bridge network bridgeAddr
// with MACs from macPrefix (five octets, the sixth is the VM index).
func Guests(bridgeAddr netip.Prefix, macPrefix string, n int) ([]Guest, error) {
	if !bridgeAddr.IsValid() || !bridgeAddr.Addr().Is4() {
		return nil, fmt.Errorf("bridge address %s: want an IPv4 address with a prefix", bridgeAddr)
	}
	if macPrefix == "" {
		macPrefix = DefaultMACPrefix
	}
	hw, err := net.ParseMAC(macPrefix + ":00")
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("MAC prefix %q: want five octets such as %s", macPrefix, DefaultMACPrefix)
	}
	if hw[0]&1 != 0 {
		return nil, fmt.Errorf("MAC prefix %q: a multicast address cannot name a NIC", macPrefix)
	}
	if n < 1 || n > 99 {
		return nil, fmt.Errorf("VM count %d: want 1 to 99", n)
	}
	network := bridgeAddr.Masked()
	bits := 32 - bridgeAddr.Bits()
	var gs []Guest
	for i := 1; i <= n; i++ {
		host := guestHostBase + i
		if bits < 8 && host >= 1<<bits-1 {
			return nil, fmt.Errorf("bridge network %s is too small for %d VMs at host numbers %d..%d (use a /24)",
				network, n, guestHostBase+1, guestHostBase+n)
		}
		a := network.Addr().As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		v += uint32(host)
		addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if addr == bridgeAddr.Addr() {
			return nil, fmt.Errorf("VM %d would get the bridge's own address %s (choose another rapido.net.address)", i, addr)
		}
		mac := append(net.HardwareAddr(nil), hw...)
		mac[5] = byte(i)
		gs = append(gs, Guest{
			Index: i, Hostname: fmt.Sprintf("rapido%d", i), MAC: mac.String(),
			Addr: netip.PrefixFrom(addr, bridgeAddr.Bits()), Gateway: bridgeAddr.Addr(), Tap: TapName(i),
		})
	}
	return gs, nil
}

// KernelArgs are the guest's kernel command line parameters: its address,
// gateway, hostname, index, and every VM's address (for tests that talk to
// their peers). The guest /init reads them from /proc/cmdline.
func (g Guest) KernelArgs(all []Guest) []string {
	peers := make([]string, len(all))
	for i, p := range all {
		peers[i] = p.Addr.Addr().String()
	}
	return []string{
		"rapido.net=" + g.Addr.String() + "," + g.Gateway.String(),
		"rapido.hostname=" + g.Hostname,
		fmt.Sprintf("rapido.vm=%d", g.Index),
		"rapido.peers=" + strings.Join(peers, ","),
	}
}
