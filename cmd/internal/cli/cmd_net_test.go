package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/git-rapido/git-rapido/cmd/internal/gitexec"
)

// inTestNetns runs f on a thread locked into a new network namespace: every
// netlink call the command makes happens there, never on the host.
func inTestNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING THE NETWORK NAMESPACE TEST OF git rapido net: not root (needs CAP_NET_ADMIN)")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Skipf("SKIPPING THE NETWORK NAMESPACE TEST OF git rapido net: cannot create a namespace: %v", err)
	}
	defer func() {
		ns.Close()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	f()
}

func netLinks(t *testing.T) string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range links {
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
		b.WriteString(l.Attrs().Name + " " + l.Attrs().Flags.String())
		for _, a := range addrs {
			b.WriteString(" " + a.IPNet.String())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestNetnsNetCommand(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("SUDO_UID", "")
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[rapido \"net\"]\n\tbridge = rbr0\n\taddress = 10.77.0.1/24\n\tvms = 3\n"), 0o644)
	state := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errb, Getenv: os.Getenv, Runner: &gitexec.Runner{}, DashAt: -1}
		code := Run(context.Background(), env, append([]string{"net"}, append(args, "--state-dir", state)...))
		return code, out.String(), errb.String()
	}
	inTestNetns(t, func() {
		before := netLinks(t)
		code, out, errOut := run("up")
		if code != 0 {
			t.Fatalf("net up: exit %d: %s", code, errOut)
		}
		for _, want := range []string{"ip link add rbr0 type bridge\n", "ip addr add 10.77.0.1/24 dev rbr0\n",
			"ip tuntap add rapido-tap3 mode tap user 0 group 0\n", "ip link set rapido-tap3 master rbr0\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("net up output lacks %q:\n%s", want, out)
			}
		}
		if code, out, errOut := run("up"); code != 0 || out != "" || !strings.Contains(errOut, "rbr0 and its 3 taps are up already") {
			t.Errorf("second net up: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		code, out, _ = run("status")
		for _, want := range []string{"rbr0         bridge up 10.77.0.1/24\n", "rapido-tap2  tuntap up owner root master rbr0\n",
			"up: nothing to do\n", "created by git rapido: 12 operations"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("net status (exit %d) lacks %q:\n%s", code, want, out)
			}
		}
		if code, out, errOut := run("down"); code != 0 || strings.Count(out, "ip link del") != 4 {
			t.Errorf("net down: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if after := netLinks(t); after != before {
			t.Errorf("net down did not restore the namespace:\nbefore:\n%safter:\n%s", before, after)
		}
		if _, out, _ := run("status"); !strings.Contains(out, "rbr0         missing") {
			t.Errorf("net status after down:\n%s", out)
		}

		// Without CAP_NET_ADMIN (dropped from this thread only) up fails
		// with a message that names it, exit 128, and changes nothing.
		var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var caps [2]unix.CapUserData
		if err := unix.Capget(&hdr, &caps[0]); err != nil {
			t.Fatal(err)
		}
		saved := caps
		caps[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&hdr, &caps[0]); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = run("up")
		if err := unix.Capset(&hdr, &saved[0]); err != nil {
			t.Fatalf("restore capabilities: %v", err)
		}
		if code != 128 || !strings.Contains(errOut, "needs CAP_NET_ADMIN") || !strings.Contains(errOut, "hint: run it as root") {
			t.Errorf("net up without CAP_NET_ADMIN: exit %d, stderr %q", code, errOut)
		}
		if after := netLinks(t); after != before {
			t.Errorf("a refused net up changed the namespace:\nbefore:\n%safter:\n%s", before, after)
		}
	})
}
