package vmrun

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

type netTestConfig map[string][]string

func (m netTestConfig) Get(k string) (string, bool) {
	v := m[k]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}
func (m netTestConfig) All(k string) []string { return m[k] }

func TestNetFromConfig(t *testing.T) {
	s, err := SpecFromConfig(netTestConfig{}, "/src", "/src/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing configured: a zero NetOptions in the Spec, and the defaults
	// when asked for.
	if diff := cmp.Diff(NetOptions{}, s.Net); diff != "" {
		t.Errorf("unconfigured Net (-want +got):\n%s", diff)
	}
	want := NetOptions{Mode: "none", Bridge: "br0", Address: "192.168.155.1/24", MACPrefix: "52:54:00:12:34", Taps: 2}
	if diff := cmp.Diff(want, s.Net.WithDefaults()); diff != "" {
		t.Errorf("default Net (-want +got):\n%s", diff)
	}
	if n, err := NetFromConfig(netTestConfig{}); err != nil || !cmp.Equal(n, want) {
		t.Errorf("NetFromConfig(empty) = %+v, %v; want %+v", n, err, want)
	}
	if s.Net.digestLine() != "" {
		t.Errorf("mode none adds %q to the digest; cache keys would change", s.Net.digestLine())
	}
	s, err = SpecFromConfig(netTestConfig{
		"rapido.net.mode": {"bridge"}, "rapido.net.bridge": {"rbr"}, "rapido.net.address": {"10.9.0.1/24"},
		"rapido.net.macPrefix": {"02:00:00:00:aa"}, "rapido.net.vms": {"3"}, "rapido.net.hostfwd": {"2222:22", "udp:53:53"},
	}, "/src", "/src/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	want = NetOptions{Mode: "bridge", Bridge: "rbr", Address: "10.9.0.1/24", MACPrefix: "02:00:00:00:aa", Taps: 3, Forwards: []string{"2222:22", "udp:53:53"}}
	if diff := cmp.Diff(want, s.Net); diff != "" {
		t.Errorf("configured Net (-want +got):\n%s", diff)
	}
	if !strings.Contains(s.Net.digestLine(), "net bridge address 10.9.0.1/24") {
		t.Errorf("digest line %q lacks the mode and address", s.Net.digestLine())
	}
	if _, err := SpecFromConfig(netTestConfig{"rapido.net.vms": {"0"}}, "/src", "/r"); err == nil {
		t.Errorf("rapido.net.vms 0 accepted")
	}
	if _, err := SpecFromConfig(netTestConfig{"rapido.net.mode": {"tap"}}, "/src", "/r"); err == nil ||
		!strings.Contains(err.Error(), `rapido.net.mode: want none, user or bridge, got "tap"`) {
		t.Errorf("bad mode: %v", err)
	}
}

func TestNetPlanUser(t *testing.T) {
	n := NetOptions{Mode: NetUser, Address: "192.168.155.1/24", MACPrefix: "52:54:00:12:34", Forwards: []string{"2222:22"}}
	nets, err := n.plan(2)
	if err != nil {
		t.Fatal(err)
	}
	want := []vmNet{
		{net: qemu.Net{Mode: "user", MAC: "52:54:00:12:34:01", Forwards: []qemu.Forward{{Proto: "tcp", HostPort: 2222, GuestPort: 22}}},
			kernelArgs: []string{"rapido.net=10.0.2.15/24,10.0.2.2", "rapido.hostname=rapido1", "rapido.vm=1"}},
		{net: qemu.Net{Mode: "user", MAC: "52:54:00:12:34:02", Forwards: []qemu.Forward{{Proto: "tcp", HostPort: 2223, GuestPort: 22}}},
			kernelArgs: []string{"rapido.net=10.0.2.15/24,10.0.2.2", "rapido.hostname=rapido2", "rapido.vm=2"}},
	}
	if diff := cmp.Diff(want, nets, cmp.AllowUnexported(vmNet{})); diff != "" {
		t.Errorf("user plan (-want +got):\n%s", diff)
	}
	if nets, err := (NetOptions{Mode: NetNone}).plan(2); nets != nil || err != nil {
		t.Errorf("none plan = %v, %v", nets, err)
	}
	if _, err := os.Stat("/sys/class/net/rapido-tap1"); err != nil {
		_, err := (NetOptions{Mode: NetBridge, Address: "192.168.155.1/24", MACPrefix: "52:54:00:12:34"}).plan(1)
		if err == nil || !strings.Contains(err.Error(), `tap rapido-tap1 does not exist (run "git rapido net up" as root first)`) {
			t.Errorf("bridge plan without taps = %v, want a hint to run git rapido net up", err)
		}
	}
	if _, err := (NetOptions{Mode: NetUser, Address: "192.168.155.1/24", Forwards: []string{"0.0.0.0:22:22"}}).plan(1); err == nil {
		t.Errorf("a forward with a host address was accepted")
	}
}

// The spec digest (half of the verdict cache key) changes with a network
// or several VMs, and not at all for runs that use neither.
func TestDigestNetAndVMs(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("SKIPPING: busybox (static, the stand-in /init) is not installed")
	}
	dir := t.TempDir()
	one := filepath.Join(dir, "one.cut")
	two := filepath.Join(dir, "two.cut")
	os.WriteFile(one, []byte("dir /x\n"), 0o644)
	os.WriteFile(two, []byte("dir /x\nvms 2\n"), 0o644)
	digest := func(manifest string, n NetOptions) string {
		t.Helper()
		s, err := SpecFromConfig(netTestConfig{}, dir, filepath.Join(dir, ".git/rapido"))
		if err != nil {
			t.Fatal(err)
		}
		s.Cut.Manifest, s.Cut.InitBinary, s.Cut.CacheDir = manifest, bb, dir
		if n.Mode != "" {
			s.Net = n
		}
		d, err := s.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := digest(one, NetOptions{})
	if d := digest(one, NetOptions{Mode: NetNone, Bridge: "other", Address: "10.1.1.1/24", Forwards: []string{"1:2"}}); d != base {
		t.Errorf("settings of an unused network changed the digest")
	}
	user := digest(one, NetOptions{Mode: NetUser, Address: "192.168.155.1/24", MACPrefix: "52:54:00:12:34"})
	bridge := digest(one, NetOptions{Mode: NetBridge, Address: "192.168.155.1/24", MACPrefix: "52:54:00:12:34"})
	vms := digest(two, NetOptions{})
	seen := map[string]string{base: "none"}
	for name, d := range map[string]string{"user": user, "bridge": bridge, "vms 2": vms} {
		if other, dup := seen[d]; dup {
			t.Errorf("digest of %s equals that of %s", name, other)
		}
		seen[d] = name
	}
}
