package qemu

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
	"github.com/git-rapido/git-rapido/vmrun/internal/proctest"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// TestBuildArgsGolden pins QEMU's argv for each kind of run, one argument
// per line in testdata/<name>.golden (go test -update rewrites them).
func TestBuildArgsGolden(t *testing.T) {
	base := Config{
		Binary: "qemu-system-x86_64", Memory: "512M", CPUs: 1,
		Kernel: "/build/arch/x86/boot/bzImage", Initrd: "/cache/images/0123.cpio",
		Console: "ttyS0", ConsoleLog: "/logs/run/console.log", VerdictPath: "/logs/run/verdict.jsonl",
	}
	cases := map[string]func(c *Config){
		"tcg": func(c *Config) { c.Accel = "tcg" },
		"kvm": func(c *Config) { c.Accel = "kvm"; c.CPUs = 4; c.Memory = "2G" },
		"interactive": func(c *Config) {
			c.Accel = "tcg"
			c.Interactive = true
			c.ConsoleLog, c.VerdictPath = "", ""
		},
		"extra-args": func(c *Config) {
			c.Accel = "tcg"
			c.KernelArgs = []string{"loglevel=7", "rapido.debug=1"}
			c.ExtraArgs = []string{"-M", "virt", "-cpu", "max", "-device", "virtio-rng-pci"}
		},
		"comma-path": func(c *Config) {
			c.Accel = "tcg"
			c.ConsoleLog, c.VerdictPath = "/src/linux,v2/.git/rapido/logs/r/console.log", "/src/linux,v2/.git/rapido/logs/r/verdict.jsonl"
		},
		"no-verdict-channel": func(c *Config) { c.Accel = "tcg"; c.VerdictPath = "" },
		"defaults": func(c *Config) {
			*c = Config{Kernel: "/k", Initrd: "/i", ConsoleLog: "/c.log"}
		},
		"fast": func(c *Config) {
			c.Accel = "tcg"
			FastBoot{Kernel: "/build/vmlinux"}.Apply(c)
		},
		"microvm": func(c *Config) {
			c.Accel = "tcg"
			c.Net = Net{Mode: NetUser, MAC: "52:54:00:12:34:01"}
			FastBoot{Kernel: "/build/vmlinux", Machine: MachineMicroVM}.Apply(c)
		},
		"arm64": func(c *Config) {
			c.Binary, c.Accel, c.Console = "qemu-system-aarch64", "tcg", "ttyAMA0"
			c.Machine, c.CPU = "virt", "cortex-a57"
		},
		"arm64-kvm": func(c *Config) {
			c.Binary, c.Accel, c.Console = "qemu-system-aarch64", "kvm", "ttyAMA0"
			c.Machine, c.CPU = "virt", "cortex-a57"
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			c := base
			mod(&c)
			got := strings.Join(BuildArgs(c), "\n") + "\n"
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("BuildArgs(%s) =\n%s\nwant (%s)\n%s", name, got, golden, want)
			}
		})
	}
}

// TestBuildArgsInvariants checks what every command line needs, whatever
// the golden files say.
func TestBuildArgsInvariants(t *testing.T) {
	for _, c := range []Config{
		{Accel: "tcg", Kernel: "k", Initrd: "i", ConsoleLog: "c"},
		{Accel: "kvm", Kernel: "k", Initrd: "i", ConsoleLog: "c", VerdictPath: "v", KernelArgs: []string{"x=1"}},
		{Accel: "bogus", Kernel: "k", Initrd: "i", Interactive: true},
	} {
		args := BuildArgs(c)
		joined := " " + strings.Join(args, " ") + " "
		for _, want := range []string{" -no-reboot ", " -kernel k ", " -initrd i ", "panic=-1", "rdinit=/init"} {
			if !strings.Contains(joined, want) {
				t.Errorf("BuildArgs(%+v) lacks %q: %v", c, want, args)
			}
		}
		if c.Accel != "kvm" && !strings.Contains(joined, " -accel tcg ") {
			t.Errorf("accel %q did not fall back to tcg: %v", c.Accel, args)
		}
		if c.Interactive == strings.Contains(joined, " quiet") {
			t.Errorf("interactive %v but quiet is %v", c.Interactive, !c.Interactive)
		}
		if (c.VerdictPath != "") != strings.Contains(joined, "name="+VerdictPortName) {
			t.Errorf("verdict channel present = %v for VerdictPath %q", !(c.VerdictPath != ""), c.VerdictPath)
		}
		// Every kernel git rapido boots carries the marker without which
		// /init refuses to act as the guest (interactive boots too).
		if i := slices.Index(args, "-append"); i < 0 || !slices.Contains(strings.Fields(args[i+1]), guest.KernelMarker) {
			t.Errorf("BuildArgs(%+v) lacks the guest marker %q in -append: %v", c, guest.KernelMarker, args)
		}
		for i, a := range args {
			if a == "-append" && !strings.HasPrefix(args[i+1], "console=") {
				t.Errorf("-append %q does not start with the console", args[i+1])
			}
		}
	}
}

func TestFindings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "accel.json")
	if _, ok := LoadFinding(file, "k1"); ok {
		t.Fatal("LoadFinding on a missing file found something")
	}
	when := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	if err := SaveFinding(file, "k1", Finding{KVM: false, Reason: "hang", When: when}); err != nil {
		t.Fatal(err)
	}
	if err := SaveFinding(file, "k2", Finding{KVM: true, When: when}); err != nil {
		t.Fatal(err)
	}
	f1, ok1 := LoadFinding(file, "k1")
	f2, ok2 := LoadFinding(file, "k2")
	if !ok1 || f1.KVM || f1.Reason != "hang" || f1.Host != "k1" || !f1.When.Equal(when) {
		t.Errorf("k1 = %+v, %v", f1, ok1)
	}
	if !ok2 || !f2.KVM || f2.Host != "k2" {
		t.Errorf("k2 = %+v, %v (saving k2 must keep k1 and add k2)", f2, ok2)
	}
	if _, ok := LoadFinding(file, "k3"); ok {
		t.Error("found a finding for an unknown host")
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	// A corrupt file is no finding, and saving replaces it.
	os.WriteFile(file, []byte("{not json"), 0o644)
	if _, ok := LoadFinding(file, "k1"); ok {
		t.Error("LoadFinding parsed a corrupt file")
	}
	if err := SaveFinding(file, "k1", Finding{KVM: true}); err != nil {
		t.Fatal(err)
	}
	if f, ok := LoadFinding(file, "k1"); !ok || !f.KVM {
		t.Errorf("after overwrite: %+v, %v", f, ok)
	}
}

func TestFindingKey(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "qemu")
	os.WriteFile(bin, []byte("x"), 0o755)
	k1 := FindingKey(bin)
	if k1 != FindingKey(bin) {
		t.Error("FindingKey is not stable")
	}
	if !strings.Contains(k1, bin) {
		t.Errorf("FindingKey = %q; want the binary in it", k1)
	}
	// A new QEMU (another mtime) is a new host for acceleration purposes.
	later := time.Now().Add(time.Hour)
	os.Chtimes(bin, later, later)
	if FindingKey(bin) == k1 {
		t.Error("FindingKey did not change when QEMU was replaced")
	}
}

// TestKillProcessGroup: Kill ends QEMU and anything it started.
func TestKillProcessGroup(t *testing.T) {
	errPath := filepath.Join(t.TempDir(), "stderr")
	p, err := StartLogged("/bin/sh", []string{"-c", "sleep 60 & echo started >&2; wait"}, errPath)
	if err != nil {
		t.Fatal(err)
	}
	pgid := p.Pid()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(errPath)
		if strings.Contains(string(b), "started") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Kill()
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Kill")
	}
	// The group is gone: the background sleep died with the shell (a
	// zombie waiting for its reaper counts as gone).
	deadline = time.Now().Add(2 * time.Second)
	for proctest.LiveInGroup(pgid) {
		if time.Now().After(deadline) {
			syscall.Kill(-pgid, syscall.SIGKILL)
			t.Fatal("a process of QEMU's group outlived Kill")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Err() == nil {
		t.Error("Err() = nil for a killed process")
	}
	if _, err := StartLogged(filepath.Join(t.TempDir(), "no-qemu"), nil, errPath); err == nil || !strings.Contains(err.Error(), "install qemu") {
		t.Errorf("StartLogged(missing) = %v; want a hint to install QEMU", err)
	}
}

// TestKillInteractive: an interactive QEMU shares our process group (it
// owns the terminal), and Kill must still end it, e.g. when git rapido
// itself is told to stop.
func TestKillInteractive(t *testing.T) {
	p, err := Start("/bin/sleep", []string{"60"}, true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("Kill did not end an interactive QEMU")
	}
	if p.Err() == nil {
		t.Error("Err() = nil for a killed process")
	}
}
