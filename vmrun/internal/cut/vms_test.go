package cut

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// busyboxAsInit finds a static binary to stand in for git-rapido as /init.
func busyboxAsInit(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("SKIPPING: busybox (static) is not installed")
	}
	if err := checkStatic(p); err != nil {
		t.Skipf("SKIPPING: %v", err)
	}
	return p
}

func TestVMsDirectives(t *testing.T) {
	init := busyboxAsInit(t)
	dir := t.TempDir()
	resolve := func(text string) (*Plan, error) {
		m := filepath.Join(dir, "t.cut")
		if err := os.WriteFile(m, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return Resolve(Options{Manifest: m, Init: init})
	}
	for _, tc := range []struct {
		text            string
		vms, verdictFrm int
	}{
		{"dir /x\n", 1, 1},
		{"vms 2\n", 2, 1},
		{"vms 3\nverdict-from 2\n", 3, 2},
		{"vms 2\nverdict-from all\n", 2, 0},
	} {
		p, err := resolve(tc.text)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.text, err)
			continue
		}
		if p.VMs != tc.vms || p.VerdictFrom != tc.verdictFrm {
			t.Errorf("Resolve(%q) = vms %d verdict-from %d, want %d %d", tc.text, p.VMs, p.VerdictFrom, tc.vms, tc.verdictFrm)
		}
	}
	for text, want := range map[string]string{
		"vms 0\n":                 "t.cut:1: vms: want a count from 1 to 16",
		"vms two\n":               "vms: want a count",
		"vms 1 2\n":               "vms: want COUNT",
		"verdict-from 0\n":        "verdict-from: want a VM number",
		"vms 2\nverdict-from 3\n": "verdict-from 3: the cut boots only 2 VM(s)",
		"verdict-from first\n":    "verdict-from: want a VM number (1 is the first) or all",
		"vmz 2\n":                 "vms, verdict-from",
	} {
		if _, err := resolve(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%q) = %v, want an error containing %q", text, err, want)
		}
	}
}
