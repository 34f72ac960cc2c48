package netdev

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testConfig() Config {
	return Config{Bridge: "br0", Address: netip.MustParsePrefix("192.168.155.1/24"), Taps: 2, Owner: 1000, Group: 1000}
}

func opStrings(ops []Op) []string {
	var s []string
	for _, o := range ops {
		s = append(s, o.String())
	}
	return s
}

func TestPlanUpFromNothing(t *testing.T) {
	ops, err := PlanUp(testConfig(), Observed{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ip link add br0 type bridge",
		"ip addr add 192.168.155.1/24 dev br0",
		"ip link set br0 up",
		"ip tuntap add rapido-tap1 mode tap user 1000 group 1000",
		"ip link set rapido-tap1 master br0",
		"ip link set rapido-tap1 up",
		"ip tuntap add rapido-tap2 mode tap user 1000 group 1000",
		"ip link set rapido-tap2 master br0",
		"ip link set rapido-tap2 up",
	}
	if diff := cmp.Diff(want, opStrings(ops)); diff != "" {
		t.Errorf("PlanUp(nothing) (-want +got):\n%s", diff)
	}
}

// upState is what the network looks like after a full "up" of testConfig.
func upState() Observed {
	return Observed{
		"br0":         {Name: "br0", Kind: "bridge", Owner: NoOwner, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.155.1/24")}},
		"rapido-tap1": {Name: "rapido-tap1", Kind: "tuntap", TapTap: true, Owner: 1000, Up: true, Master: "br0"},
		"rapido-tap2": {Name: "rapido-tap2", Kind: "tuntap", TapTap: true, Owner: 1000, Up: true, Master: "br0"},
	}
}

func TestPlanUpIdempotent(t *testing.T) {
	ops, err := PlanUp(testConfig(), upState())
	if err != nil || len(ops) != 0 {
		t.Errorf("PlanUp(already up) = %v, %v; want nothing to do", opStrings(ops), err)
	}
}

func TestPlanUpReusesExistingBridge(t *testing.T) {
	have := Observed{"br0": {Name: "br0", Kind: "bridge", Owner: NoOwner}}
	c := testConfig()
	c.Taps = 1
	ops, err := PlanUp(c, have)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ip addr add 192.168.155.1/24 dev br0",
		"ip link set br0 up",
		"ip tuntap add rapido-tap1 mode tap user 1000 group 1000",
		"ip link set rapido-tap1 master br0",
		"ip link set rapido-tap1 up",
	}
	if diff := cmp.Diff(want, opStrings(ops)); diff != "" {
		t.Errorf("PlanUp(bare bridge) (-want +got):\n%s", diff)
	}
	// Down on top of that takes back the address, the up state and the
	// tap, but never deletes the bridge it did not create.
	after := upState()
	delete(after, "rapido-tap2")
	down := PlanDown(ops, after)
	wantDown := []string{
		"ip link set br0 down",
		"ip addr del 192.168.155.1/24 dev br0",
		"ip link del rapido-tap1",
	}
	if diff := cmp.Diff(wantDown, opStrings(down)); diff != "" {
		t.Errorf("PlanDown(reused bridge) (-want +got):\n%s", diff)
	}
}

func TestPlanUpRefusesForeignDevices(t *testing.T) {
	for _, tc := range []struct {
		name string
		have Observed
		want string
	}{
		{"bridge is a dummy", Observed{"br0": {Name: "br0", Kind: "dummy"}}, "br0 exists and is a dummy device, not a bridge"},
		{"tap is a tun", Observed{"rapido-tap1": {Name: "rapido-tap1", Kind: "tuntap", Owner: 1000}}, "rapido-tap1 exists and is not a tap device"},
		{"tap of another user", Observed{"rapido-tap2": {Name: "rapido-tap2", Kind: "tuntap", TapTap: true, Owner: 0}}, "rapido-tap2 exists owned by uid 0, want uid 1000"},
		{"tap on another bridge", Observed{"rapido-tap1": {Name: "rapido-tap1", Kind: "tuntap", TapTap: true, Owner: 1000, Master: "virbr0"}}, "rapido-tap1 is attached to virbr0, not br0"},
		{"other address in the network", Observed{"br0": {Name: "br0", Kind: "bridge", Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.155.7/24")}}}, "br0 already has 192.168.155.7/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := PlanUp(testConfig(), tc.have)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("PlanUp = %v, %v; want error containing %q", opStrings(ops), err, tc.want)
			}
		})
	}
}

func TestPlanUpValidates(t *testing.T) {
	for _, c := range []Config{
		{Bridge: "", Address: netip.MustParsePrefix("10.0.0.1/24"), Taps: 1},
		{Bridge: "a-very-long-bridge-name", Address: netip.MustParsePrefix("10.0.0.1/24"), Taps: 1},
		{Bridge: "br0", Address: netip.MustParsePrefix("fd00::1/64"), Taps: 1},
		{Bridge: "br0", Address: netip.MustParsePrefix("10.0.0.1/24"), Taps: 0},
	} {
		if _, err := PlanUp(c, Observed{}); err == nil {
			t.Errorf("PlanUp(%+v) succeeded, want a validation error", c)
		}
	}
}

func TestPlanDownUndoesExactlyUp(t *testing.T) {
	created, _ := PlanUp(testConfig(), Observed{})
	down := PlanDown(created, upState())
	want := []string{"ip link del rapido-tap2", "ip link del rapido-tap1", "ip link del br0"}
	if diff := cmp.Diff(want, opStrings(down)); diff != "" {
		t.Errorf("PlanDown(full up) (-want +got):\n%s", diff)
	}
	// Devices someone already removed are skipped.
	gone := upState()
	delete(gone, "rapido-tap1")
	down = PlanDown(created, gone)
	want = []string{"ip link del rapido-tap2", "ip link del br0"}
	if diff := cmp.Diff(want, opStrings(down)); diff != "" {
		t.Errorf("PlanDown(tap1 gone) (-want +got):\n%s", diff)
	}
	if down := PlanDown(created, Observed{}); len(down) != 0 {
		t.Errorf("PlanDown(all gone) = %v, want nothing", opStrings(down))
	}
}

func TestStateRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "state.json")
	if s, err := LoadState(p); err != nil || len(s.Created) != 0 {
		t.Fatalf("LoadState(missing) = %+v, %v; want empty", s, err)
	}
	created, _ := PlanUp(testConfig(), Observed{})
	if err := (State{Bridge: "br0", Created: created}).Save(p); err != nil {
		t.Fatal(err)
	}
	s, err := LoadState(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, s.Created); diff != "" {
		t.Errorf("state round trip (-want +got):\n%s", diff)
	}
	if err := (State{}).Save(p); err != nil {
		t.Fatal(err)
	}
	if s, _ := LoadState(p); len(s.Created) != 0 {
		t.Errorf("empty Save left %+v", s)
	}
}

func TestGuests(t *testing.T) {
	gs, err := Guests(netip.MustParsePrefix("192.168.155.1/24"), "", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Guest{
		{Index: 1, Hostname: "rapido1", MAC: "52:54:00:12:34:01", Addr: netip.MustParsePrefix("192.168.155.101/24"), Gateway: netip.MustParseAddr("192.168.155.1"), Tap: "rapido-tap1"},
		{Index: 2, Hostname: "rapido2", MAC: "52:54:00:12:34:02", Addr: netip.MustParsePrefix("192.168.155.102/24"), Gateway: netip.MustParseAddr("192.168.155.1"), Tap: "rapido-tap2"},
	}
	if diff := cmp.Diff(want, gs, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Guests (-want +got):\n%s", diff)
	}
	args := gs[1].KernelArgs(gs)
	wantArgs := []string{"rapido.net=192.168.155.102/24,192.168.155.1", "rapido.hostname=rapido2", "rapido.vm=2", "rapido.peers=192.168.155.101,192.168.155.102"}
	if diff := cmp.Diff(wantArgs, args); diff != "" {
		t.Errorf("KernelArgs (-want +got):\n%s", diff)
	}
	gs, err = Guests(netip.MustParsePrefix("10.1.2.3/16"), "02:aa:bb:cc:dd", 1)
	if err != nil || gs[0].Addr.String() != "10.1.0.101/16" || gs[0].MAC != "02:aa:bb:cc:dd:01" {
		t.Errorf("Guests(10.1.2.3/16, 02:aa:bb:cc:dd) = %+v, %v", gs, err)
	}
	for _, bad := range []struct {
		addr, mac string
		n         int
	}{
		{"192.168.155.1/28", "", 1},   // .101 is outside a /28
		{"192.168.155.101/24", "", 1}, // the bridge's own address
		{"192.168.155.1/24", "01:00:5e:00:00", 1},
		{"192.168.155.1/24", "52:54:00", 1},
		{"192.168.155.1/24", "", 0},
	} {
		if gs, err := Guests(netip.MustParsePrefix(bad.addr), bad.mac, bad.n); err == nil {
			t.Errorf("Guests(%s, %q, %d) = %+v, want an error", bad.addr, bad.mac, bad.n, gs)
		}
	}
}
