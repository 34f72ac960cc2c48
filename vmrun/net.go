package vmrun

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/git-rapido/git-rapido/vmrun/internal/netdev"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// Network modes of a run (rapido.net.mode, --net).
const (
	NetNone   = qemu.NetNone
	NetUser   = qemu.NetUser
	NetBridge = qemu.NetBridge
)

// NetOptions are the VM network settings (rapido.net.*). Empty fields
// mean the defaults (see WithDefaults), so that a Spec without network
// configuration has a zero NetOptions.
type NetOptions struct {
	Mode      string // none (default), user or bridge
	Bridge    string // host bridge for bridge mode (default br0)
	Address   string // the bridge's address, whose /24 the guests share (default 192.168.155.1/24)
	TapUser   string // user (name or uid) who may open the taps: the one running QEMU
	MACPrefix string // five octets; VM i gets PREFIX:0i (default 52:54:00:12:34)
	Taps      int    // taps "git rapido net up" makes (rapido.net.vms, default 2)
	// Forwards are user-mode forwards "[tcp:|udp:]HOSTPORT:GUESTPORT",
	// always bound to 127.0.0.1 (rapido.net.hostfwd, multi-valued).
	Forwards []string
}

// netFromConfig reads rapido.net.* as set, without defaults (see
// WithDefaults); values are checked by their Keys, and the bridge settings
// again by the plan that uses them (a bad bridge only matters to runs in
// bridge mode).
func netFromConfig(r *keyReader) NetOptions {
	n := NetOptions{
		Mode:      r.getOr("rapido.net.mode", ""),
		Bridge:    r.getOr("rapido.net.bridge", ""),
		Address:   r.getOr("rapido.net.address", ""),
		TapUser:   r.getOr("rapido.net.tapUser", ""),
		MACPrefix: r.getOr("rapido.net.macPrefix", ""),
		Forwards:  r.cfg.All("rapido.net.hostfwd"),
	}
	if v := r.getOr("rapido.net.vms", ""); v != "" && r.err == nil {
		n.Taps, _ = key("rapido.net.vms").Int(v) // checked by getOr
	}
	return n
}

// WithDefaults fills the empty fields: mode none, bridge br0, address
// 192.168.155.1/24, MAC prefix 52:54:00:12:34, two taps.
func (n NetOptions) WithDefaults() NetOptions {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&n.Mode, key("rapido.net.mode").Default)
	def(&n.Bridge, key("rapido.net.bridge").Default)
	def(&n.Address, key("rapido.net.address").Default)
	def(&n.MACPrefix, key("rapido.net.macPrefix").Default)
	if n.Taps == 0 {
		k := key("rapido.net.vms")
		n.Taps, _ = k.Int(k.Default) // a default passes its check (TestKeysTable)
	}
	return n
}

// CheckNetMode accepts none, user and bridge (rapido.net.mode's Key).
func CheckNetMode(m string) error { return key("rapido.net.mode").Check(m) }

// digestLine is the network's part of the spec digest: only what changes
// what a guest sees. Empty for none, so that cache keys of runs without a
// network are what they were before networking existed.
func (n NetOptions) digestLine() string {
	n = n.WithDefaults()
	if n.Mode == NetNone {
		return ""
	}
	return fmt.Sprintf("net %s address %s mac %s hostfwd %q\n", n.Mode, n.Address, n.MACPrefix, n.Forwards)
}

// vmNet is one VM's network card and the kernel parameters telling its
// /init who it is.
type vmNet struct {
	net        qemu.Net
	kernelArgs []string
}

// userGuest is QEMU user-mode networking's fixed guest side (slirp's
// 10.0.2.0/24, gateway and host alias 10.0.2.2).
var userGuest = netip.MustParsePrefix("10.0.2.15/24")

// plan returns the network of each of n VMs (index 0 is VM 1); nil for
// none.
func (n NetOptions) plan(vms int) ([]vmNet, error) {
	n = n.WithDefaults()
	if n.Mode == NetNone {
		return nil, nil
	}
	addr, err := netip.ParsePrefix(n.Address)
	if err != nil {
		return nil, fmt.Errorf("rapido.net.address %q: want an address with a prefix such as %s", n.Address, netdev.DefaultAddress)
	}
	if n.Mode == NetUser {
		addr = netip.PrefixFrom(netip.MustParseAddr("10.0.2.2"), 24)
	}
	guests, err := netdev.Guests(addr, n.MACPrefix, vms)
	if err != nil {
		return nil, err
	}
	var fwd []qemu.Forward
	for _, f := range n.Forwards {
		q, err := qemu.ParseForward(f)
		if err != nil {
			return nil, fmt.Errorf("rapido.net.hostfwd: %w", err)
		}
		fwd = append(fwd, q)
	}
	out := make([]vmNet, vms)
	for i, g := range guests {
		switch n.Mode {
		case NetBridge:
			if _, err := os.Stat(filepath.Join("/sys/class/net", g.Tap)); err != nil {
				return nil, fmt.Errorf("bridge networking: tap %s does not exist (run \"git rapido net up\" as root first)", g.Tap)
			}
			out[i] = vmNet{net: qemu.Net{Mode: NetBridge, MAC: g.MAC, Tap: g.Tap}, kernelArgs: g.KernelArgs(guests)}
		case NetUser:
			// Each VM has its own slirp: the same guest address, no peers,
			// and forwards shifted by the VM index so they do not clash.
			var f []qemu.Forward
			for _, q := range fwd {
				q.HostPort += i
				f = append(f, q)
			}
			out[i] = vmNet{net: qemu.Net{Mode: NetUser, MAC: g.MAC, Forwards: f}, kernelArgs: []string{
				"rapido.net=" + userGuest.String() + ",10.0.2.2",
				"rapido.hostname=" + g.Hostname,
				fmt.Sprintf("rapido.vm=%d", g.Index),
			}}
		}
	}
	return out, nil
}

// netdevConfig resolves the options into what the host side needs.
func (n NetOptions) netdevConfig(taps int) (netdev.Config, error) {
	n = n.WithDefaults()
	if taps == 0 {
		taps = n.Taps
	}
	c := netdev.Config{Bridge: n.Bridge, Taps: taps}
	var err error
	if c.Address, err = netip.ParsePrefix(n.Address); err != nil {
		return c, fmt.Errorf("rapido.net.address %q: want an address with a prefix such as %s", n.Address, netdev.DefaultAddress)
	}
	if c.Owner, c.Group, err = lookupTapUser(n.TapUser); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// lookupTapUser resolves rapido.net.tapUser to a uid and its primary gid;
// unset means the user who ran sudo, else root.
func lookupTapUser(name string) (int, int, error) {
	if name == "" {
		if uid := os.Getenv("SUDO_UID"); uid != "" {
			name = uid
		} else {
			return 0, 0, nil
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		var uerr error
		if u, uerr = user.LookupId(name); uerr != nil {
			return 0, 0, fmt.Errorf("rapido.net.tapUser %q: %w", name, err)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("rapido.net.tapUser %q: uid %q gid %q are not numbers", name, u.Uid, u.Gid)
	}
	return uid, gid, nil
}

// NetStateDir is where "git rapido net up" records what it created: a
// runtime directory, since devices do not survive a reboot either.
func NetStateDir() string {
	if os.Geteuid() == 0 {
		return "/run/git-rapido"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "git-rapido")
	}
	return filepath.Join(CacheHome(), "run")
}

// ErrNetPermission is returned (wrapped) by NetUp and NetDown without
// CAP_NET_ADMIN.
var ErrNetPermission = netdev.ErrPermission

// NetUp creates the bridge, its address and n.Taps taps (idempotently) in
// the current network namespace, and returns the operations it applied,
// one "ip ..." line each.
func NetUp(n NetOptions, stateDir string) ([]string, error) {
	c, err := n.netdevConfig(n.Taps)
	if err != nil {
		return nil, fmt.Errorf("net up: %w", err)
	}
	ops, err := netdev.Up(c, netdev.StatePath(stateDir, c.Bridge))
	return opLines(ops), err
}

// NetDown removes exactly what NetUp created for the bridge.
func NetDown(n NetOptions, stateDir string) ([]string, error) {
	n = n.WithDefaults()
	ops, err := netdev.Down(netdev.StatePath(stateDir, n.Bridge))
	return opLines(ops), err
}

// NetStatus describes the bridge and the taps, what is missing, and what
// "down" would remove.
func NetStatus(n NetOptions, stateDir string) (string, error) {
	c, err := n.netdevConfig(n.Taps)
	if err != nil {
		return "", fmt.Errorf("net status: %w", err)
	}
	h, err := netdev.Open()
	if err != nil {
		return "", fmt.Errorf("net status: %w", err)
	}
	defer h.Close()
	have, err := h.Observe(c.Names())
	if err != nil {
		return "", fmt.Errorf("net status: %w", err)
	}
	var b strings.Builder
	for _, name := range c.Names() {
		l, ok := have[name]
		if !ok {
			fmt.Fprintf(&b, "%-12s missing\n", name)
			continue
		}
		state := "down"
		if l.Up {
			state = "up"
		}
		fmt.Fprintf(&b, "%-12s %s %s", name, l.Kind, state)
		if l.Kind == "tuntap" {
			fmt.Fprintf(&b, " owner %s", ownerName(l.Owner))
		}
		if l.Master != "" {
			fmt.Fprintf(&b, " master %s", l.Master)
		}
		for _, a := range l.Addrs {
			fmt.Fprintf(&b, " %s", a)
		}
		b.WriteByte('\n')
	}
	todo, err := netdev.PlanUp(c, have)
	switch {
	case err != nil:
		fmt.Fprintf(&b, "up: cannot: %v\n", err)
	case len(todo) == 0:
		b.WriteString("up: nothing to do\n")
	default:
		fmt.Fprintf(&b, "up: %d operations to do (git rapido net up)\n", len(todo))
	}
	st, err := netdev.LoadState(netdev.StatePath(stateDir, c.Bridge))
	if err != nil {
		return b.String(), err
	}
	fmt.Fprintf(&b, "created by git rapido: %d operations (git rapido net down undoes them)\n", len(st.Created))
	return b.String(), nil
}

func ownerName(uid int) string {
	if uid == netdev.NoOwner {
		return "none"
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func opLines(ops []netdev.Op) []string {
	var l []string
	for _, o := range ops {
		l = append(l, o.String())
	}
	return l
}

// NetFromConfig reads the rapido.net.* settings alone ("git rapido net"
// runs outside a kernel tree too), with the defaults filled in.
func NetFromConfig(cfg Config) (NetOptions, error) {
	r := &keyReader{cfg: cfg}
	n := netFromConfig(r)
	return n.WithDefaults(), r.err
}
