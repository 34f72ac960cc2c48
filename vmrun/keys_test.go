package vmrun

import (
	"strings"
	"testing"
	"time"
)

// TestKeysTable: the one table is well formed, and every default it gives
// passes its own key's check.
func TestKeysTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		if !strings.HasPrefix(k.Name, "rapido.") || k.Doc == "" || strings.Contains(k.Doc, "\n") {
			t.Errorf("%s: want a rapido.* name and a one-line doc", k.Name)
		}
		if seen[strings.ToLower(k.Name)] {
			t.Errorf("%s: listed twice", k.Name)
		}
		seen[strings.ToLower(k.Name)] = true
		switch k.Kind {
		case Text, Path, Count, Duration, Size:
		case Choice:
			if len(k.Choices) == 0 {
				t.Errorf("%s: a choice without choices", k.Name)
			}
		default:
			t.Errorf("%s: unknown kind %q", k.Name, k.Kind)
		}
		if k.Default != "" && k.DefaultDoc != "" {
			t.Errorf("%s: both a default and a described default", k.Name)
		}
		if k.Default != "" {
			if err := k.Check(k.Default); err != nil {
				t.Errorf("%s: its own default %q is refused: %v", k.Name, k.Default, err)
			}
		}
	}
}

func TestKeyCheck(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       string // "" accepts
	}{
		{"rapido.accel", "kvm", ""},
		{"rapido.accel", "foo", `want auto, kvm or tcg, got "foo"`},
		{"rapido.accel", "KVM", `want auto, kvm or tcg`},
		{"rapido.cpus", "4", ""},
		{"rapido.cpus", "0", `want a positive number, got "0"`},
		{"rapido.cpus", "-1", `want a positive number`},
		{"rapido.cpus", "two", `want a positive number`},
		{"rapido.jobs", "0", `want a positive number`},
		{"rapido.net.vms", "99", ""},
		{"rapido.net.vms", "100", `want a number from 1 to 99, got "100"`},
		{"rapido.memory", "512M", ""},
		{"rapido.memory", "2G", ""},
		{"rapido.memory", "1.5G", ""},
		{"rapido.memory", "1024", ""},
		{"rapido.memory", "-1", `want a size such as 512M or 2G, got "-1"`},
		{"rapido.memory", "0", `want a size`},
		{"rapido.memory", "0M", `want a size`},
		{"rapido.memory", "512MB", `want a size`},
		{"rapido.memory", "1G,slots=4", `want a size`},
		{"rapido.timeout", "90s", ""},
		{"rapido.timeout", "90", ""},
		{"rapido.timeout", "1h", ""},
		{"rapido.timeout", "-1", `want a duration of at least 1s such as 90s or 5m, got "-1"`},
		{"rapido.timeout", "-5m", `want a duration of at least 1s`},
		{"rapido.bootTimeout", "0", `want a duration of at least 1s`},
		{"rapido.bootTimeout", "500ms", `want a duration of at least 1s`},
		{"rapido.bootTimeout", "soon", `want a duration`},
		{"rapido.net.mode", "user", ""},
		{"rapido.net.mode", "tap", `want none, user or bridge, got "tap"`},
		{"rapido.arch", "x86", ""},
		{"rapido.arch", "arm64", ""},
		{"rapido.arch", "riscv", `want arm64, x86_64 or x86, got "riscv"`},
		{"rapido.kernelArgs", "anything at all", ""},
	} {
		err := CheckValue(c.key, c.value)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s=%q refused: %v", c.key, c.value, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s=%q: error %v, want %q", c.key, c.value, err, c.want)
		}
	}
	if err := CheckValue("rapido.nosuch", "x"); err == nil {
		t.Error("an unknown key was accepted")
	}
}

// TestSpecFromConfigDefaults: the defaults of a run are the table's.
func TestSpecFromConfigTableDefaults(t *testing.T) {
	cleanEnv(t)
	s, err := SpecFromConfig(mapConfig{}, "/src", "/src/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	d := func(name string) string { return key(name).Default }
	if s.QEMU.Memory != d("rapido.memory") || s.QEMU.Accel != d("rapido.accel") || s.QEMU.CPUs != 1 {
		t.Errorf("QEMU = %+v; want the table's defaults", s.QEMU)
	}
	if s.Timeout != 10*time.Minute || s.BootTimeout != 60*time.Second || s.Build.BaseConfig != d("rapido.kernelConfig") {
		t.Errorf("timeouts %s/%s, base %s; want the table's defaults", s.Timeout, s.BootTimeout, s.Build.BaseConfig)
	}
}

// TestSpecFromConfigRefuses: a bad value in git config is refused by the
// same check as the flag (Spec.Set), naming the key.
func TestSpecFromConfigRefuses(t *testing.T) {
	cleanEnv(t)
	settable := map[string]bool{"rapido.accel": true, "rapido.cpus": true, "rapido.memory": true,
		"rapido.timeout": true, "rapido.bootTimeout": true, "rapido.jobs": true, "rapido.net.mode": true}
	for _, key := range []string{"rapido.accel", "rapido.cpus", "rapido.memory", "rapido.timeout",
		"rapido.bootTimeout", "rapido.jobs", "rapido.net.mode", "rapido.net.vms", "rapido.arch"} {
		check := CheckValue(key, "foo")
		if check == nil {
			t.Fatalf("%s=foo passes the check", key)
		}
		_, err := SpecFromConfig(mapConfig{key: {"foo"}}, "/src", "/src/.git/rapido")
		if want := key + ": " + check.Error(); err == nil || err.Error() != want {
			t.Errorf("%s=foo: SpecFromConfig error %v, want %q", key, err, want)
		}
		if settable[key] {
			var s Spec
			if err := s.Set(key, "foo"); err == nil || err.Error() != check.Error() {
				t.Errorf("Spec.Set(%s, foo) = %v; want %q, the key's own check", key, err, check)
			}
		}
	}
	for _, v := range []string{"-1", "-30s", "0"} {
		for _, key := range []string{"rapido.timeout", "rapido.bootTimeout"} {
			if _, err := SpecFromConfig(mapConfig{key: {v}}, "/src", "/x"); err == nil {
				t.Errorf("%s=%s accepted: it turns hang detection off", key, v)
			}
		}
	}
}

// TestSpecFromConfigLauncher: rapido.compilerLauncher is one program; with
// it and no rapido.jobs, -j is left to the launcher's cluster (0 here,
// kbuild.LauncherJobs at build time); rapido.jobs still wins.
func TestSpecFromConfigLauncher(t *testing.T) {
	cleanEnv(t)
	s, err := SpecFromConfig(mapConfig{"rapido.compilerLauncher": {"icecc"}}, "/src", "/src/.git/rapido")
	if err != nil {
		t.Fatal(err)
	}
	if s.Build.Launcher != "icecc" || s.Build.Jobs != 0 || len(s.Build.MakeWrapper) != 0 {
		t.Errorf("launcher %q jobs %d wrapper %q; want icecc, 0 (the cluster's) and no make wrapper", s.Build.Launcher, s.Build.Jobs, s.Build.MakeWrapper)
	}
	s, err = SpecFromConfig(mapConfig{"rapido.compilerLauncher": {"distcc"}, "rapido.jobs": {"40"}}, "/src", "/x")
	if err != nil || s.Build.Jobs != 40 {
		t.Errorf("rapido.jobs=40 with a launcher: jobs %d, %v; want 40", s.Build.Jobs, err)
	}
	for _, bad := range []string{"icecc gcc", "-j", "icecc\n", " "} {
		_, err := SpecFromConfig(mapConfig{"rapido.compilerLauncher": {bad}}, "/src", "/x")
		if err == nil || !strings.Contains(err.Error(), "rapido.compilerLauncher: want one program") {
			t.Errorf("rapido.compilerLauncher=%q: %v; want it refused", bad, err)
		}
	}
}
