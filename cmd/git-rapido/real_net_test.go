package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// netKconfig is what a guest needs for the bridge test, on top of git
// rapido's built-in fragment: IPv4 over virtio-net, raw sockets for ping.
var netKconfig = []string{"CONFIG_NET=y", "CONFIG_INET=y", "CONFIG_NETDEVICES=y", "CONFIG_NET_CORE=y",
	"CONFIG_VIRTIO_NET=y", "CONFIG_PACKET=y", "CONFIG_UNIX=y"}

// echoServer is a TCP echo service listening inside network namespace ns:
// it sends each connection's first line back and records it.
type echoServer struct {
	l     net.Listener
	mu    sync.Mutex
	lines []string
}

func listenInNetns(t *testing.T, ns, addr string) *echoServer {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	// The socket belongs to the namespace it was made in, whichever
	// thread later accepts on it.
	l, lerr := net.Listen("tcp", addr)
	if err := netns.Set(orig); err != nil {
		t.Fatalf("return to the host netns: %v (thread left locked)", err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		t.Fatal(lerr)
	}
	s := &echoServer{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				c.Write([]byte(line))
				s.mu.Lock()
				s.lines = append(s.lines, strings.TrimSpace(line))
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return s
}

func (s *echoServer) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := append([]string(nil), s.lines...)
	sort.Strings(l)
	return l
}

// TestRealNetBridge boots two VMs of the simple-network cut on a bridge in
// a network namespace made for the test: they ping the bridge address and
// each other, and reach a TCP echo service on the host side (listening in
// the namespace). "net down" then leaves the namespace as it was. Nothing
// touches the host's own interfaces.
func TestRealNetBridge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING THE REAL BRIDGE TEST: not root (it creates a network namespace, a bridge and taps)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("SKIPPING THE REAL BRIDGE TEST: iproute2's ip is not installed (needed for ip netns)")
	}
	r := requireReal(t, "real-net")
	root, _ := filepath.Abs("../..")
	r.setConfig(t, "rapido.kconfig", netKconfig...)
	r.mustRun(t, r.clone, "git", "config", "rapido.cutPath", filepath.Join(root, "contrib/cuts"))

	ns := fmt.Sprintf("rapido-test-%d", os.Getpid())
	r.mustRun(t, r.clone, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	inNS := func(args ...string) (string, string, int) {
		return r.run(r.clone, "ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	snapshot := func() string {
		links, _, _ := inNS("ip", "-o", "link", "show")
		addrs, _, _ := inNS("ip", "-o", "addr", "show")
		return links + addrs
	}
	before := snapshot()
	state := t.TempDir()

	out, errOut, code := inNS(r.bin, "net", "up", "--state-dir", state)
	if code != 0 {
		t.Fatalf("net up: exit %d\n%s", code, errOut)
	}
	t.Logf("net up:\n%s", out)
	echo := listenInNetns(t, ns, "192.168.155.1:7777")

	start := time.Now()
	_, errOut, code = inNS(r.bin, "run", "--net", "bridge", "--cut", "simple-network", "--accel", "tcg", "--timings")
	t.Logf("run: exit %d in %s\n%s", code, time.Since(start).Round(time.Millisecond), errOut)
	if code != 0 {
		for _, vm := range []string{"vm1", "vm2"} {
			logs, _ := filepath.Glob(filepath.Join(r.clone, ".git/rapido/logs/*", vm, "console.log"))
			if len(logs) > 0 {
				b, _ := os.ReadFile(logs[len(logs)-1])
				t.Logf("%s console:\n%s", vm, b)
			}
		}
		t.Fatalf("git rapido run --net bridge --cut simple-network exited %d, want 0", code)
	}
	if !strings.Contains(errOut, "test passed on all 2 VMs") {
		t.Errorf("run stderr lacks the two-VM pass")
	}
	if got, want := echo.got(), []string{"hello from rapido1", "hello from rapido2"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the echo service on the host side got %q, want %q", got, want)
	}
	dirs, _ := filepath.Glob(filepath.Join(r.clone, ".git/rapido/logs/*/vm2"))
	sort.Strings(dirs)
	if len(dirs) == 0 {
		t.Fatal("no vm2 log directory")
	}
	c2, _ := os.ReadFile(filepath.Join(dirs[len(dirs)-1], "console.log"))
	for _, want := range []string{"rapido2: ping 192.168.155.1 ok", "rapido2: ping 192.168.155.101 ok", "rapido2: TCP echo via 192.168.155.1:7777 ok"} {
		if !strings.Contains(string(c2), want) {
			t.Errorf("vm2's console lacks %q", want)
		}
	}

	out, errOut, code = inNS(r.bin, "net", "down", "--state-dir", state)
	if code != 0 {
		t.Fatalf("net down: exit %d\n%s", code, errOut)
	}
	t.Logf("net down:\n%s", out)
	if after := snapshot(); after != before {
		t.Errorf("net down did not restore the namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// inNetns runs f on a thread switched into namespace ns; sockets made by f
// stay in ns.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Error(err)
		return
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Error(err)
		return
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Error(err)
		return
	}
	f()
	if err := netns.Set(orig); err != nil {
		t.Errorf("return to the host netns: %v (thread left locked)", err)
		return
	}
	runtime.UnlockOSThread()
}

// TestRealNetUser boots one VM with user-mode networking in a namespace of
// its own, so that the forward's 127.0.0.1 is the namespace's loopback: the
// guest configures eth0 from the kernel command line, listens on a port,
// and the host side reaches it only through the forward. The guest
// contacts no address at all.
func TestRealNetUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING THE REAL USER-MODE NETWORK TEST: not root (it creates a network namespace)")
	}
	r := requireReal(t, "real-net")
	r.setConfig(t, "rapido.kconfig", netKconfig...)
	r.mustRun(t, r.clone, "git", "config", "rapido.net.hostfwd", "tcp:2207:7")
	defer r.run(r.clone, "git", "config", "--unset", "rapido.net.hostfwd")
	ns := fmt.Sprintf("rapido-test-user-%d", os.Getpid())
	r.mustRun(t, r.clone, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	r.mustRun(t, r.clone, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

	got := make(chan string, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			var line string
			inNetns(t, ns, func() {
				c, err := net.DialTimeout("tcp", "127.0.0.1:2207", time.Second)
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				line, _ = bufio.NewReader(c).ReadString('\n')
			})
			if line != "" {
				got <- strings.TrimSpace(line)
				return
			}
		}
	}()
	guestTest := `set -e; ip -4 addr show eth0 | grep -q "inet 10.0.2.15/24"; ip route | grep -q "default via 10.0.2.2"; ` +
		`[ "$(hostname)" = rapido1 ]; nc -l -p 7 -e echo "hello from $(hostname) at $RAPIDO_IP"`
	_, errOut, code := r.run(r.clone, "ip", "netns", "exec", ns, r.bin, "run", "--net", "user", "--accel", "tcg", "--", "sh", "-c", guestTest)
	close(stop)
	t.Logf("run: exit %d\n%s", code, errOut)
	if code != 0 {
		t.Fatalf("git rapido run --net user exited %d, want 0", code)
	}
	select {
	case line := <-got:
		if line != "hello from rapido1 at 10.0.2.15" {
			t.Errorf("through the forward the host side read %q", line)
		}
	default:
		t.Error("the host side never reached the guest through 127.0.0.1:2207")
	}
}
