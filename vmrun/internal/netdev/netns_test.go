package netdev

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNetns runs f on a thread locked into a fresh network namespace, so that
// every netlink call (and the /dev/net/tun ioctl) of the test happens there
// and the host's interfaces are never touched. The thread goes back to the
// original namespace afterwards; if that fails the thread stays locked and
// the runtime discards it when the test goroutine ends.
func inNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING THE NETWORK NAMESPACE TEST: not root (it needs CAP_NET_ADMIN to create a namespace)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("SKIPPING THE NETWORK NAMESPACE TEST: no /dev/net/tun: %v", err)
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("read current netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Skipf("SKIPPING THE NETWORK NAMESPACE TEST: cannot create a network namespace (no CAP_NET_ADMIN?): %v", err)
	}
	defer func() {
		ns.Close()
		if err := netns.Set(orig); err != nil {
			t.Errorf("return to the original netns: %v (thread left locked)", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
}

// snapshot lists every device of the current namespace with its state and
// addresses, to compare before and after.
func snapshot(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
		var as []string
		for _, ad := range addrs {
			as = append(as, ad.IPNet.String())
		}
		sort.Strings(as)
		out = append(out, fmt.Sprintf("%s %s flags=%v master=%d addrs=%v", a.Name, l.Type(), a.Flags, a.MasterIndex, as))
	}
	sort.Strings(out)
	return out
}

func TestNetnsUpDown(t *testing.T) {
	inNetns(t, func() {
		before := snapshot(t)
		state := StatePath(t.TempDir(), "br0")
		c := testConfig()
		ops, err := Up(c, state)
		if err != nil {
			t.Fatalf("Up: %v", err)
		}
		if len(ops) != 9 {
			t.Errorf("Up applied %d operations, want 9: %v", len(ops), opStrings(ops))
		}
		h, err := Open()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		have, err := h.Observe(c.Names())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(upState(), have, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("after Up, the namespace differs from the plan (-want +got):\n%s", diff)
		}
		// Idempotent: a second up changes nothing and keeps the record.
		if ops, err := Up(c, state); err != nil || len(ops) != 0 {
			t.Errorf("second Up = %v, %v; want nothing to do", opStrings(ops), err)
		}
		if st, _ := LoadState(state); len(st.Created) != 9 {
			t.Errorf("state after second Up records %d operations, want 9", len(st.Created))
		}
		down, err := Down(state)
		if err != nil {
			t.Fatalf("Down: %v", err)
		}
		if len(down) != 3 {
			t.Errorf("Down applied %v, want three deletions", opStrings(down))
		}
		if diff := cmp.Diff(before, snapshot(t)); diff != "" {
			t.Errorf("after Down the namespace is not as before (-before +after):\n%s", diff)
		}
		if _, err := os.Stat(state); !os.IsNotExist(err) {
			t.Errorf("Down left its state file: %v", err)
		}
		if ops, err := Down(state); err != nil || len(ops) != 0 {
			t.Errorf("second Down = %v, %v; want nothing to do", opStrings(ops), err)
		}
	})
}

// A bridge that existed before "up" survives "down" as it was.
func TestNetnsKeepsForeignBridge(t *testing.T) {
	inNetns(t, func() {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t)
		state := StatePath(t.TempDir(), "br0")
		c := testConfig()
		c.Owner, c.Group = 0, 0
		if _, err := Up(c, state); err != nil {
			t.Fatalf("Up: %v", err)
		}
		if _, err := Down(state); err != nil {
			t.Fatalf("Down: %v", err)
		}
		if diff := cmp.Diff(before, snapshot(t)); diff != "" {
			t.Errorf("after Down the pre-existing bridge changed (-before +after):\n%s", diff)
		}
	})
}

// A failing "up" undoes its partial work: here the second tap's name is
// taken by a tun device, which PlanUp refuses before changing anything,
// and a bridge address clash detected only by the kernel is rolled back.
func TestNetnsUpFailureChangesNothing(t *testing.T) {
	inNetns(t, func() {
		tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "rapido-tap2"}, Mode: netlink.TUNTAP_MODE_TUN}
		if err := netlink.LinkAdd(tun); err != nil {
			t.Fatal(err)
		}
		for _, f := range tun.Fds {
			f.Close()
		}
		before := snapshot(t)
		state := StatePath(t.TempDir(), "br0")
		_, err := Up(testConfig(), state)
		if err == nil || !strings.Contains(err.Error(), "rapido-tap2 exists and is not a tap device") {
			t.Errorf("Up with a foreign rapido-tap2 = %v, want a refusal", err)
		}
		if diff := cmp.Diff(before, snapshot(t)); diff != "" {
			t.Errorf("a refused Up changed the namespace (-before +after):\n%s", diff)
		}
		// Apply fails halfway (a master that does not exist): the
		// rollback leaves the namespace as before.
		h, err := Open()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		root := 0
		done, err := h.Apply([]Op{
			{Kind: AddBridge, Link: "br9"},
			{Kind: AddTap, Link: "rapido-tap7", Owner: &root, Group: &root},
			{Kind: SetMaster, Link: "rapido-tap7", Master: "nosuchbr"},
		})
		if err == nil || len(done) != 2 {
			t.Fatalf("Apply with a missing master = %v, %v; want two done and an error", opStrings(done), err)
		}
		now, _ := h.Observe([]string{"br9", "rapido-tap7"})
		if _, err := h.Apply(PlanDown(done, now)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, snapshot(t)); diff != "" {
			t.Errorf("rollback left changes (-before +after):\n%s", diff)
		}
	})
}

func TestStatePathPerNamespace(t *testing.T) {
	dir := t.TempDir()
	host := StatePath(dir, "br0")
	inNetns(t, func() {
		if inner := StatePath(dir, "br0"); inner == host {
			t.Errorf("StatePath is %s both in the host and in a new namespace", inner)
		}
		if !strings.HasPrefix(filepath.Base(host), "net-") {
			t.Errorf("StatePath = %s", host)
		}
	})
}
