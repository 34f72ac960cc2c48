package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealBootPaths boots the real kernel both ways git rapido knows: the
// fast path (the PVH vmlinux on microvm, which the built-in fragment's
// CONFIG_PVH and virtio-mmio allow and Debian's QEMU supports) and QEMU's
// defaults (rapido.fastBoot=off, what a QEMU or kernel without them gets). In each,
// the verdict channel carries a passing and a failing test's result, the
// panic scan finds a panic at boot, and --timings splits the boot into
// its phases.
func TestRealBootPaths(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	for _, rom := range []string{"pvh.bin", "bios-microvm.bin"} {
		if _, err := os.Stat("/usr/share/qemu/" + rom); err != nil {
			t.Fatalf("this host's QEMU ships no %s (%v): the fast path cannot be tested here", rom, err)
		}
	}
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "fixtures")
	t.Cleanup(func() { r.setConfig(t, "rapido.fastBoot") })
	logs := regexp.MustCompile(`rapido: logs in (\S+)`)
	for _, mode := range []struct {
		key, boot, kernel string
		microvm           bool
	}{
		{"auto", "fast", "/vmlinux", true},
		{"off", "classic", "/arch/x86/boot/bzImage", false},
	} {
		t.Run(mode.boot, func(t *testing.T) {
			r.setConfig(t, "rapido.fastBoot", mode.key)
			for _, tc := range []struct {
				fixture string
				test    []string
				code    int
				reason  string
			}{
				{"fixture/pass", versionTest, 0, `rapido: pass 6\.1\.\S+ — test passed`},
				// The exit code comes back on the virtio-serial channel.
				{"fixture/pass", []string{"--", "sh", "-c", "echo rapido-real-boot; exit 3"}, 1, `rapido: fail .*— test exited 3 `},
				{"fixture/panic", versionTest, 2, `rapido: crash .*Kernel panic - not syncing: rapido fixture: boot panic`},
			} {
				r.mustRun(t, r.clone, "git", "checkout", "-q", "--detach", tc.fixture)
				start := time.Now()
				_, stderr, code := r.run(r.clone, r.bin, append([]string{"run", "--timings", "--accel", "tcg"}, tc.test...)...)
				t.Logf("%s %q: exit %d in %s\n%s", tc.fixture, tc.test, code, time.Since(start).Round(time.Millisecond), stderr)
				if code != tc.code || !regexp.MustCompile(tc.reason).MatchString(stderr) {
					t.Errorf("%s %q: exit %d, want %d with %q", tc.fixture, tc.test, code, tc.code, tc.reason)
				}
				m := logs.FindStringSubmatch(stderr)
				if m == nil {
					t.Errorf("no log directory named:\n%s", stderr)
					continue
				}
				cmd, _ := os.ReadFile(filepath.Join(m[1], "qemu.cmd"))
				if !strings.Contains(string(cmd), mode.kernel+" ") || strings.Contains(string(cmd), "microvm") != mode.microvm {
					t.Errorf("qemu.cmd = %s; want -kernel ...%s, microvm %t", cmd, mode.kernel, mode.microvm)
				}
				var v struct {
					Boot    string `json:"boot"`
					Timings struct {
						Firmware   time.Duration `json:"firmware"`
						KernelBoot time.Duration `json:"kernel_boot"`
					} `json:"timings"`
				}
				b, _ := os.ReadFile(filepath.Join(m[1], "verdict.json"))
				if err := json.Unmarshal(b, &v); err != nil || v.Boot != mode.boot {
					t.Errorf("verdict.json boot %q (%v); want %q", v.Boot, err, mode.boot)
				}
				if tc.code == 2 {
					continue // no /init: no split of the boot
				}
				if v.Timings.Firmware <= 0 || v.Timings.KernelBoot <= 0 {
					t.Errorf("timings %+v; want the firmware and the kernel measured apart", v.Timings)
				}
				if want := `timings: build .*, firmware \S+ \(` + mode.boot + ` boot\), kernel boot \S+ \(tcg\), init `; !regexp.MustCompile(want).MatchString(stderr) {
					t.Errorf("stderr lacks %q", want)
				}
				if tc.code == 1 {
					guest, _ := os.ReadFile(filepath.Join(m[1], "verdict.jsonl"))
					if !strings.Contains(string(guest), `"event":"result"`) || !strings.Contains(string(guest), "rapido-real-boot") {
						t.Errorf("verdict channel = %s; want the result with the test's output", guest)
					}
				}
			}
		})
	}
}
