package qemu

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateNet = flag.Bool("update-net", false, "rewrite the testdata/*.argv golden files of the network cards")

// netBase is a typical non-interactive run, as vmrun builds it.
func netBase() Config {
	return Config{
		Binary: "qemu-system-x86_64", Accel: "tcg", Memory: "512M", CPUs: 1,
		Kernel: "/b/arch/x86/boot/bzImage", Initrd: "/c/images/x.cpio", Console: "ttyS0",
		ConsoleLog: "/l/console.log", VerdictPath: "/l/verdict.jsonl",
		KernelArgs: []string{"rapido.net=10.0.2.15/24,10.0.2.2"},
	}
}

// TestBuildArgsNetGolden compares argv, one argument per line, with
// testdata/<name>.argv (go test -update-net rewrites them).
func TestBuildArgsNetGolden(t *testing.T) {
	user := netBase()
	user.Net = Net{Mode: NetUser, MAC: "52:54:00:12:34:01", Forwards: []Forward{{"tcp", 2222, 22}, {"udp", 5353, 53}}}
	bridge := netBase()
	bridge.KernelArgs = []string{"rapido.net=192.168.155.101/24,192.168.155.1", "rapido.hostname=rapido1"}
	bridge.Net = Net{Mode: NetBridge, MAC: "52:54:00:12:34:01", Tap: "rapido-tap1"}
	none := netBase()
	none.KernelArgs = nil
	explicitNone := none
	explicitNone.Net = Net{Mode: NetNone, MAC: "52:54:00:12:34:01"}
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"none", none},
		{"explicit-none", explicitNone},
		{"user", user},
		{"bridge", bridge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(BuildArgs(tc.c), "\n") + "\n"
			golden := filepath.Join("testdata", tc.name+".argv")
			if *updateNet {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("BuildArgs(%s) =\n%s\nwant (%s)\n%s", tc.name, got, golden, want)
			}
		})
	}
	// No networking must leave the command line exactly as before.
	if a, b := strings.Join(BuildArgs(none), " "), strings.Join(BuildArgs(explicitNone), " "); a != b {
		t.Errorf("Net{Mode: none} changed argv:\n%s\n%s", a, b)
	}
}

// Every user-mode forward listens on loopback only.
func TestUserForwardsLoopbackOnly(t *testing.T) {
	c := netBase()
	c.Net = Net{Mode: NetUser, Forwards: []Forward{{"tcp", 8080, 80}, {"", 2222, 22}}}
	var netdev string
	args := BuildArgs(c)
	for i, a := range args {
		if a == "-netdev" {
			netdev = args[i+1]
		}
	}
	if !strings.Contains(netdev, "restrict=on") {
		t.Errorf("user netdev %q lacks restrict=on", netdev)
	}
	n := 0
	for _, opt := range strings.Split(netdev, ",") {
		if v, ok := strings.CutPrefix(opt, "hostfwd="); ok {
			n++
			if !strings.HasPrefix(v, "tcp:127.0.0.1:") {
				t.Errorf("forward %q does not listen on 127.0.0.1 only", v)
			}
		}
	}
	if n != 2 {
		t.Errorf("user netdev %q has %d forwards, want 2", netdev, n)
	}
}

func TestParseForward(t *testing.T) {
	for in, want := range map[string]Forward{
		"2222:22":     {"tcp", 2222, 22},
		"tcp:8080:80": {"tcp", 8080, 80},
		"udp:5353:53": {"udp", 5353, 53},
	} {
		if got, err := ParseForward(in); err != nil || got != want {
			t.Errorf("ParseForward(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "22", "0.0.0.0:2222:22", "tcp:2222", "sctp:1:2", "70000:22", "2222:x", "+22:22"} {
		if f, err := ParseForward(bad); err == nil {
			t.Errorf("ParseForward(%q) = %+v, want an error", bad, f)
		}
	}
}
