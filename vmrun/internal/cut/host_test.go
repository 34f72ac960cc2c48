package cut

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func hostManifestFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func configLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestScanHostKconfigThroughIncludes(t *testing.T) {
	dir := hostManifestFiles(t, map[string]string{
		"a.cut": "# a\nkconfig CONFIG_ZRAM=y CONFIG_CRYPTO_LZO=y\ninclude b.cut\nbin /does/not/exist\nkconfig CONFIG_EXT4_FS=m\n",
		"b.cut": "kconfig CONFIG_BLOCK=y\nqemu-arg -device virtio-scsi-pci,id=hba0\n",
	})
	h, err := ScanHost(Options{Manifest: filepath.Join(dir, "a.cut")})
	if err != nil {
		t.Fatalf("ScanHost: %v (image directives must be skipped)", err)
	}
	want := []string{"CONFIG_ZRAM=y", "CONFIG_CRYPTO_LZO=y", "CONFIG_BLOCK=y", "CONFIG_EXT4_FS=m"}
	if !reflect.DeepEqual(h.Kconfig, want) {
		t.Errorf("Kconfig = %q, want %q", h.Kconfig, want)
	}
	if !reflect.DeepEqual(h.QEMUArgs, []string{"-device", "virtio-scsi-pci,id=hba0"}) {
		t.Errorf("QEMUArgs = %q", h.QEMUArgs)
	}
	// Resolve does not skip the missing program.
	if _, err := Resolve(Options{Manifest: filepath.Join(dir, "a.cut"), Init: "/bin/busybox"}); err == nil {
		t.Error("Resolve accepted bin /does/not/exist")
	}
}

func TestKconfigDirectiveErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"kconfig", "kconfig: want one or more"},
		{"kconfig ZRAM=y", `"ZRAM=y": want CONFIG_X=y`},
		{"kconfig CONFIG_ZRAM", `"CONFIG_ZRAM": want CONFIG_X=y`},
		{"kconfig CONFIG_ZRAM=yes", `"CONFIG_ZRAM=yes"`},
		{"qemu-arg", "qemu-arg: want one or more"},
		{"host-hook", "host-hook: want SCRIPT"},
		{"host-hook missing.sh", "no such file"},
		{"host-hook plain.txt", "not an executable file"},
		{"config", "config: want one or more"},
		{"config Bad_Key", `"Bad_Key": want a key`},
	} {
		dir := hostManifestFiles(t, map[string]string{"x.cut": "# first\n" + tc.line + "\n", "plain.txt": "x"})
		_, err := ScanHost(Options{Manifest: filepath.Join(dir, "x.cut")})
		var me *ManifestError
		if !errors.As(err, &me) || me.Line != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want a ManifestError at line 2 containing %q", tc.line, err, tc.want)
		}
	}
}

func TestKconfigValues(t *testing.T) {
	dir := hostManifestFiles(t, map[string]string{"x.cut": `kconfig CONFIG_A=y CONFIG_B=m CONFIG_C=n CONFIG_D=64 CONFIG_E=0x10 CONFIG_F="lzo"` + "\n"})
	h, err := ScanHost(Options{Manifest: filepath.Join(dir, "x.cut")})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Kconfig) != 6 {
		t.Errorf("Kconfig = %q", h.Kconfig)
	}
}

func TestConfigDirective(t *testing.T) {
	dir := hostManifestFiles(t, map[string]string{
		"x.cut": "config fstests.fs=ext4 fstests.src fstests.tests\nkconfig CONFIG_${RAPIDO_FSTESTS_FS}_X=y\nfile $RAPIDO_FSTESTS_SRC/check /fstests/check\n",
		"check": "#!/bin/sh\n",
	})
	man := filepath.Join(dir, "x.cut")
	// Unset and referenced: the error names the key to set.
	_, err := ScanHost(Options{Manifest: man})
	if err == nil || !strings.Contains(err.Error(), "rapido.fstests.src is not set (git config rapido.fstests.src <value>)") {
		t.Fatalf("err = %v, want the unset key named", err)
	}
	cfg := map[string]string{"rapido.fstests.src": dir, "rapido.fstests.fs": "xfs"}
	h, err := ScanHost(Options{Manifest: man, Lookup: configLookup(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Kconfig, []string{"CONFIG_xfs_X=y"}) {
		t.Errorf("Kconfig = %q: config value not expanded", h.Kconfig)
	}
	p, err := Resolve(Options{Manifest: man, Init: "/bin/busybox", Lookup: configLookup(cfg), Env: map[string]string{"RAPIDO_FSTESTS_FS": "btrfs", "OTHER": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"RAPIDO_FSTESTS_SRC": dir, "RAPIDO_FSTESTS_FS": "btrfs", "OTHER": "1"}
	if !reflect.DeepEqual(p.Spec.Env, want) {
		t.Errorf("guest env = %v, want %v (explicit Env wins, unset keys absent)", p.Spec.Env, want)
	}
	if _, ok := p.Image.entries["/fstests/check"]; !ok {
		t.Error("file with an expanded host path is missing from the image")
	}
	// The default applies when the key is unset.
	cfg = map[string]string{"rapido.fstests.src": dir}
	p, err = Resolve(Options{Manifest: man, Init: "/bin/busybox", Lookup: configLookup(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Env["RAPIDO_FSTESTS_FS"] != "ext4" {
		t.Errorf("RAPIDO_FSTESTS_FS = %q, want the default ext4", p.Spec.Env["RAPIDO_FSTESTS_FS"])
	}
}

func TestUndeclaredVariablesStay(t *testing.T) {
	dir := hostManifestFiles(t, map[string]string{"x.cut": "config a.b\nqemu-arg file=$RAPIDO_RUNDIR/d.img\n"})
	h, err := ScanHost(Options{Manifest: filepath.Join(dir, "x.cut")})
	if err != nil {
		t.Fatal(err)
	}
	if h.QEMUArgs[0] != "file=$RAPIDO_RUNDIR/d.img" {
		t.Errorf("QEMUArgs = %q, want $RAPIDO_RUNDIR left for boot time", h.QEMUArgs)
	}
}

func TestConfigEnv(t *testing.T) {
	for in, want := range map[string]string{"fstests.src": "RAPIDO_FSTESTS_SRC", "kselftest.targets": "RAPIDO_KSELFTEST_TARGETS", "usb-gadget.size": "RAPIDO_USB_GADGET_SIZE"} {
		if got := ConfigEnv(in); got != want {
			t.Errorf("ConfigEnv(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostDigest(t *testing.T) {
	dir := hostManifestFiles(t, map[string]string{"hook.sh": "#!/bin/sh\necho one\n", "x.cut": "host-hook hook.sh\n"})
	if d, _ := (&Host{}).Digest(); d != "" {
		t.Errorf("empty Host digest = %q, want \"\"", d)
	}
	h, err := ScanHost(Options{Manifest: filepath.Join(dir, "x.cut")})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Hooks) != 1 || h.Hooks[0] != filepath.Join(dir, "hook.sh") {
		t.Fatalf("Hooks = %q", h.Hooks)
	}
	d1, _ := h.Digest()
	os.WriteFile(filepath.Join(dir, "hook.sh"), []byte("#!/bin/sh\necho two\n"), 0o755)
	d2, _ := h.Digest()
	k1, _ := (&Host{Kconfig: []string{"CONFIG_A=y"}}).Digest()
	k2, _ := (&Host{Kconfig: []string{"CONFIG_A=m"}}).Digest()
	q1, _ := (&Host{QEMUArgs: []string{"-m", "1G"}}).Digest()
	if d1 == "" || d1 == d2 || k1 == k2 || k1 == q1 {
		t.Errorf("digests do not follow their inputs: hook %s/%s kconfig %s/%s qemu %s", d1, d2, k1, k2, q1)
	}
}

func TestBuiltinCannotHook(t *testing.T) {
	r := &resolver{plan: &Plan{Image: newImage()}}
	if _, err := r.hostDirective("builtin:x", "host-hook", []string{"x.sh"}); err == nil {
		t.Error("a built-in manifest got a host hook")
	}
}
