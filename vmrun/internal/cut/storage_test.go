package cut

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestStorageDirective(t *testing.T) {
	dir := hostManifestFiles(t, map[string]string{"x.cut": "storage-daemon vdisk 64M\nstorage-daemon ndisk 1G nbd\nstorage-daemon odisk 4096 vhost-user-blk aio=threads cache.direct=on\n"})
	h, err := ScanHost(Options{Manifest: filepath.Join(dir, "x.cut")})
	if err != nil {
		t.Fatal(err)
	}
	want := []StorageDisk{
		{Name: "vdisk", Size: 64 << 20, Export: ExportVhostUserBlk},
		{Name: "ndisk", Size: 1 << 30, Export: ExportNBD},
		{Name: "odisk", Size: 4096, Export: ExportVhostUserBlk, Options: []string{"aio=threads", "cache.direct=on"}},
	}
	for i := range want {
		if want[i].Options == nil {
			want[i].Options = []string{}
		}
	}
	if len(h.Storage) != 3 {
		t.Fatalf("Storage = %+v", h.Storage)
	}
	for i, d := range h.Storage {
		if d.Options == nil {
			d.Options = []string{}
		}
		if !reflect.DeepEqual(d, want[i]) {
			t.Errorf("disk %d = %+v, want %+v", i, d, want[i])
		}
	}
}

func TestStorageDirectiveErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"storage-daemon", "want NAME SIZE"},
		{"storage-daemon vdisk", "want NAME SIZE"},
		{"storage-daemon Vdisk 64M", `name "Vdisk"`},
		{"storage-daemon a,b 64M", `name "a,b"`},
		{"storage-daemon vdisk 64", `size "64": want a whole number of 512-byte sectors`},
		{"storage-daemon vdisk 0", `size "0"`},
		{"storage-daemon vdisk 2T", `size "2T"`},
		{"storage-daemon vdisk 99999999999999999G", `size "99999999999999999G"`},
		{"storage-daemon vdisk 64MB", `size "64MB"`},
		{"storage-daemon vdisk 64M iscsi", `export "iscsi": want vhost-user-blk or nbd`},
		{"storage-daemon vdisk 64M nbd aio=a,filename=/etc/passwd", `without commas`},
		{"storage-daemon vdisk 64M nbd filename=/etc/passwd", `git rapido sets filename itself`},
		{"storage-daemon vdisk 64M nbd node-name=x", `sets node-name itself`},
		{"storage-daemon vdisk 64M\nstorage-daemon vdisk 32M", "a disk of that name is already served"},
	} {
		dir := hostManifestFiles(t, map[string]string{"x.cut": "# first\n" + tc.line + "\n"})
		_, err := ScanHost(Options{Manifest: filepath.Join(dir, "x.cut")})
		var me *ManifestError
		if !errors.As(err, &me) || me.Line < 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want a ManifestError containing %q", tc.line, err, tc.want)
		}
	}
}

// A daemon's disk has one client: a cut that boots several VMs cannot
// have one.
func TestStorageDirectiveOneVM(t *testing.T) {
	dir := hostManifestFiles(t, map[string]string{"x.cut": "vms 2\nstorage-daemon vdisk 64M\n"})
	_, err := Prepare(Options{Manifest: filepath.Join(dir, "x.cut"), Init: "/bin/busybox"})
	if err == nil || !strings.Contains(err.Error(), "storage-daemon: a daemon's disk serves one VM, and the cut boots 2") {
		t.Errorf("err = %v", err)
	}
}

// The storage lines are part of the host digest: a changed disk is a
// different run.
func TestStorageDigest(t *testing.T) {
	digest := func(line string) string {
		dir := hostManifestFiles(t, map[string]string{"x.cut": line + "\n"})
		h, err := ScanHost(Options{Manifest: filepath.Join(dir, "x.cut")})
		if err != nil {
			t.Fatal(err)
		}
		d, err := h.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b, c := digest("storage-daemon vdisk 64M"), digest("storage-daemon vdisk 64M nbd"), digest("storage-daemon vdisk 32M")
	if a == "" || a == b || a == c || b == c {
		t.Errorf("digests %q %q %q: want three different non-empty ones", a, b, c)
	}
}
