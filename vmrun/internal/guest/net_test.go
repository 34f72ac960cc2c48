package guest

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCmdline(t *testing.T) {
	b, err := ParseCmdline("console=ttyS0 panic=-1 rdinit=/init quiet rapido.net=192.168.155.102/24,192.168.155.1 " +
		"rapido.hostname=rapido2 rapido.vm=2 rapido.peers=192.168.155.101,192.168.155.102\n")
	if err != nil {
		t.Fatal(err)
	}
	if b.Addr != netip.MustParsePrefix("192.168.155.102/24") || b.Gateway != netip.MustParseAddr("192.168.155.1") ||
		b.Hostname != "rapido2" || b.VM != 2 || len(b.Peers) != 2 {
		t.Errorf("ParseCmdline = %+v", b)
	}
	want := map[string]string{
		"RAPIDO_VM": "2", "RAPIDO_VMS": "2", "RAPIDO_IP": "192.168.155.102",
		"RAPIDO_GATEWAY": "192.168.155.1", "RAPIDO_PEERS": "192.168.155.101 192.168.155.102",
	}
	if diff := cmp.Diff(want, b.Env()); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	// No rapido parameters: no network, no environment.
	b, err = ParseCmdline("console=ttyS0 quiet")
	if err != nil || b.Addr.IsValid() || len(b.Env()) != 0 {
		t.Errorf("ParseCmdline(no rapido params) = %+v, %v, env %v", b, err, b.Env())
	}
	// User mode: an address and gateway, no peers.
	b, err = ParseCmdline("rapido.net=10.0.2.15/24,10.0.2.2")
	if err != nil || b.Addr.String() != "10.0.2.15/24" || b.Gateway.String() != "10.0.2.2" {
		t.Errorf("ParseCmdline(user) = %+v, %v", b, err)
	}
	for _, bad := range []string{"rapido.net=10.0.2.15", "rapido.net=10.0.2.15/24,gw", "rapido.vm=0", "rapido.peers=1.2.3.4,x"} {
		if _, err := ParseCmdline(bad); err == nil {
			t.Errorf("ParseCmdline(%q) succeeded, want an error", bad)
		}
	}
}
