package netdev

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"
)

// ErrPermission is returned (wrapped) when the kernel refuses a change for
// lack of CAP_NET_ADMIN.
var ErrPermission = errors.New("operation not permitted: changing the host network needs CAP_NET_ADMIN (run as root, e.g. \"sudo git rapido net up\")")

// noUID is the kernel's INVALID_UID, what a tap without an owner reports.
const noUID = ^uint32(0)

// Handle performs netlink operations in the network namespace that was
// current for the calling thread when it was opened.
type Handle struct {
	h *netlink.Handle
}

// Open opens a netlink handle in the calling thread's network namespace.
// Callers that switch namespaces must have locked the OS thread; tap
// creation (an ioctl on /dev/net/tun) also happens in that thread's
// namespace.
func Open() (*Handle, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return &Handle{h: h}, nil
}

// Close releases the netlink socket.
func (h *Handle) Close() { h.h.Close() }

// Observe reads what exists of the named devices.
func (h *Handle) Observe(names []string) (Observed, error) {
	have := Observed{}
	for _, n := range names {
		l, err := h.h.LinkByName(n)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read link %s: %w", n, err)
		}
		have[n], err = h.describe(l)
		if err != nil {
			return nil, err
		}
	}
	return have, nil
}

func (h *Handle) describe(l netlink.Link) (Link, error) {
	a := l.Attrs()
	out := Link{Name: a.Name, Kind: l.Type(), Owner: NoOwner, Up: a.Flags&(1<<0) != 0}
	if t, ok := l.(*netlink.Tuntap); ok {
		out.TapTap = t.Mode == netlink.TUNTAP_MODE_TAP
		if t.Owner != noUID {
			out.Owner = int(t.Owner)
		}
	}
	if a.MasterIndex != 0 {
		m, err := h.h.LinkByIndex(a.MasterIndex)
		if err != nil {
			return out, fmt.Errorf("read master of %s: %w", a.Name, err)
		}
		out.Master = m.Attrs().Name
	}
	addrs, err := h.h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return out, fmt.Errorf("read addresses of %s: %w", a.Name, err)
	}
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP.To4())
		if !ok {
			continue
		}
		ones, _ := ad.Mask.Size()
		out.Addrs = append(out.Addrs, netip.PrefixFrom(ip, ones))
	}
	return out, nil
}

// Apply performs ops in order and returns those that succeeded; on error
// the caller should undo the returned ones (see PlanDown).
func (h *Handle) Apply(ops []Op) ([]Op, error) {
	var done []Op
	for _, o := range ops {
		if err := h.apply(o); err != nil {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
				err = fmt.Errorf("%w (%v)", ErrPermission, err)
			}
			return done, fmt.Errorf("%s: %w", o, err)
		}
		done = append(done, o)
	}
	return done, nil
}

func (h *Handle) apply(o Op) error {
	if o.Kind == AddBridge {
		return h.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: o.Link}})
	}
	if o.Kind == AddTap {
		// netlink always sets both owner and group, and the kernel lets
		// only a user matching both open the tap: the group is the
		// owner's primary group.
		var owner, group uint32
		if o.Owner != nil {
			owner = uint32(*o.Owner)
		}
		if o.Group != nil {
			group = uint32(*o.Group)
		}
		t := &netlink.Tuntap{
			LinkAttrs: netlink.LinkAttrs{Name: o.Link},
			Mode:      netlink.TUNTAP_MODE_TAP,
			Flags:     netlink.TUNTAP_NO_PI | netlink.TUNTAP_ONE_QUEUE,
			Owner:     owner, Group: group,
		}
		err := h.h.LinkAdd(t)
		// The tap is persistent; the descriptors that created it are not
		// needed (QEMU opens its own).
		for _, f := range t.Fds {
			f.Close()
		}
		return err
	}
	l, err := h.h.LinkByName(o.Link)
	if err != nil {
		return err
	}
	switch o.Kind {
	case AddAddr, DelAddr:
		a, err := netlink.ParseAddr(o.Addr)
		if err != nil {
			return err
		}
		if o.Kind == AddAddr {
			return h.h.AddrAdd(l, a)
		}
		return h.h.AddrDel(l, a)
	case SetUp:
		return h.h.LinkSetUp(l)
	case SetDown:
		return h.h.LinkSetDown(l)
	case SetMaster:
		m, err := h.h.LinkByName(o.Master)
		if err != nil {
			return err
		}
		return h.h.LinkSetMaster(l, m)
	case SetNoMaster:
		return h.h.LinkSetNoMaster(l)
	case DelLink:
		return h.h.LinkDel(l)
	}
	return fmt.Errorf("unknown operation %q", o.Kind)
}

// Up brings the network c up in the calling thread's namespace, records
// what it created in the state file, and returns the operations applied
// (none when everything was there). On failure it undoes its own partial
// work, so the host is as before.
func Up(c Config, statePath string) ([]Op, error) {
	st, err := LoadState(statePath)
	if err != nil {
		return nil, err
	}
	h, err := Open()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	have, err := h.Observe(c.Names())
	if err != nil {
		return nil, fmt.Errorf("net up: %w", err)
	}
	ops, err := PlanUp(c, have)
	if err != nil {
		return nil, fmt.Errorf("net up: %w", err)
	}
	done, err := h.Apply(ops)
	if err != nil {
		if now, oerr := h.Observe(c.Names()); oerr == nil {
			h.Apply(PlanDown(done, now))
		}
		return nil, fmt.Errorf("net up: %w", err)
	}
	if len(done) > 0 {
		st.Bridge = c.Bridge
		st.Created = append(st.Created, done...)
		if err := st.Save(statePath); err != nil {
			return done, fmt.Errorf("net up: %w", err)
		}
	}
	return done, nil
}

// Down undoes what the state file says "up" created, and removes it.
func Down(statePath string) ([]Op, error) {
	st, err := LoadState(statePath)
	if err != nil || len(st.Created) == 0 {
		return nil, err
	}
	h, err := Open()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var names []string
	for _, o := range st.Created {
		names = append(names, o.Link)
	}
	have, err := h.Observe(names)
	if err != nil {
		return nil, fmt.Errorf("net down: %w", err)
	}
	done, err := h.Apply(PlanDown(st.Created, have))
	if err != nil {
		return done, fmt.Errorf("net down: %w", err)
	}
	return done, State{}.Save(statePath)
}

// StatePath is the state file for bridge in the calling thread's network
// namespace, under dir: keyed by the namespace's inode, so that the same
// bridge name in two namespaces never shares a record.
func StatePath(dir, bridge string) string {
	ns := "0"
	if fi, err := os.Stat("/proc/thread-self/ns/net"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ns = strconv.FormatUint(st.Ino, 10)
		}
	}
	return filepath.Join(dir, "net-"+ns+"-"+bridge+".json")
}
