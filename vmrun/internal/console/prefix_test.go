package console_test

import (
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/console"
	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// A test that prints kernel-looking lines is not a crash: the guest prefixes
// the test's output, and the scanner skips prefixed lines.
func TestTestOutputIsNotAKernelReport(t *testing.T) {
	if guest.ConsoleTestPrefix != console.TestOutputPrefix {
		t.Fatalf("guest prefixes test output with %q, the scanner skips %q", guest.ConsoleTestPrefix, console.TestOutputPrefix)
	}
	log := strings.Join([]string{
		"rapido-init: start",
		console.TestOutputPrefix + "WARNING: this is the test talking",
		console.TestOutputPrefix + "BUG: not the kernel's",
		console.TestOutputPrefix + "Kernel panic - not syncing: quoted by a test",
		"rapido-verdict: exit=0",
	}, "\n")
	if w, ok := console.Worst(console.Scan(strings.NewReader(log))); ok && w.Crash() {
		t.Fatalf("test output taken for a kernel report: %+v", w)
	}
	// The kernel's own report in the middle of test output is still found,
	// and the test lines around it stay in its excerpt.
	log = strings.Join([]string{
		"rapido-init: start",
		console.TestOutputPrefix + "loading the module",
		"WARNING: CPU: 0 PID: 57 at fs/proc/version.c:12 f+0x1/0x2",
		console.TestOutputPrefix + "still running",
		"---[ end trace 0000000000000000 ]---",
		"rapido-verdict: exit=0",
	}, "\n")
	w, ok := console.Worst(console.Scan(strings.NewReader(log)))
	if !ok || w.Kind != console.Warning {
		t.Fatalf("kernel WARNING among test output not found: %+v", w)
	}
}
