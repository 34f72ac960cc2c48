package vmrun

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func cutSpec(t *testing.T, manifest string) *Spec {
	t.Helper()
	dir := t.TempDir()
	m := filepath.Join(dir, "x.cut")
	if err := os.WriteFile(m, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Spec{
		Build: BuildOptions{SourceDir: dir, BuildDir: filepath.Join(dir, "build"), Fragments: []string{"CONFIG_USER=y"}},
		Cut:   CutOptions{Manifest: m, InitBinary: "/bin/busybox", CacheDir: filepath.Join(dir, "cache")},
	}
}

// The cut's kconfig items go after rapido.kconfig and into both digests.
func TestCutKconfigInDigests(t *testing.T) {
	plain := cutSpec(t, "bin busybox\n")
	withK := cutSpec(t, "bin busybox\nkconfig CONFIG_ZRAM=y\n")
	withM := cutSpec(t, "bin busybox\nkconfig CONFIG_ZRAM=m\n")
	ks, err := withK.CutKconfig()
	if err != nil || !reflect.DeepEqual(ks, []string{"CONFIG_ZRAM=y"}) {
		t.Fatalf("CutKconfig = %q, %v", ks, err)
	}
	h, _ := withK.cutHost()
	if got := withCutKconfig(withK.Build, h).Fragments; !reflect.DeepEqual(got, []string{"CONFIG_USER=y", "CONFIG_ZRAM=y"}) {
		t.Errorf("fragments = %q, want the user's then the cut's", got)
	}
	if len(withK.Build.Fragments) != 1 {
		t.Error("withCutKconfig changed the spec's own fragments")
	}
	digest := func(s *Spec) string {
		d, err := s.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dp, dk, dm := digest(plain), digest(withK), digest(withM)
	if dp == dk || dk == dm {
		t.Errorf("spec digest ignores the cut's kconfig: plain %s, =y %s, =m %s", dp, dk, dm)
	}
	cp, _ := ConfigDigest(plain.Build)
	hk, _ := withK.cutHost()
	ck, _ := ConfigDigest(withCutKconfig(withK.Build, hk))
	if cp == ck {
		t.Error("config digest ignores the cut's kconfig")
	}
}

func TestCutQEMUArgs(t *testing.T) {
	s := cutSpec(t, "qemu-arg -drive file=$RAPIDO_RUNDIR/a.img,if=none -device x,y=${RAPIDO_RUNDIR}\n")
	h, err := s.cutHost()
	if err != nil {
		t.Fatal(err)
	}
	got := cutQEMUArgs(h, "/run/dir", "")
	want := []string{"-drive", "file=/run/dir/a.img,if=none", "-device", "x,y=/run/dir"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
}

// fakeQMP serves one QMP session on a unix socket and records requests.
func fakeQMP(t *testing.T, socket string, reply func(cmd string) string) chan []string {
	t.Helper()
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan []string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var seen []string
		defer func() { got <- seen }()
		c.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var req struct {
				Execute   string          `json:"execute"`
				Arguments json.RawMessage `json:"arguments"`
			}
			json.Unmarshal(sc.Bytes(), &req)
			seen = append(seen, req.Execute+" "+string(req.Arguments))
			// An asynchronous event first, which the client must skip.
			c.Write([]byte(`{"event": "DEVICE_DELETED", "data": {}}` + "\n"))
			c.Write([]byte(reply(req.Execute) + "\n"))
		}
	}()
	return got
}

func TestQMP(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "q.sock")
	seen := fakeQMP(t, sock, func(cmd string) string {
		if cmd == "query-status" {
			return `{"return": {"status": "running"}}`
		}
		return `{"return": {}}`
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ret, err := QMP(ctx, sock, "query-status", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ret), `"running"`) {
		t.Errorf("return = %s", ret)
	}
	if s := <-seen; !reflect.DeepEqual(s, []string{"qmp_capabilities ", "query-status "}) {
		t.Errorf("requests = %q", s)
	}
}

func TestQMPError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "q.sock")
	seen := fakeQMP(t, sock, func(cmd string) string {
		if cmd == "device_del" {
			return `{"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}}`
		}
		return `{"return": {}}`
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := QMP(ctx, sock, "device_del", []byte(`{"id":"nope"}`))
	if err == nil || err.Error() != "qmp: device_del: DeviceNotFound: Device 'nope' not found" {
		t.Errorf("err = %v", err)
	}
	if s := <-seen; len(s) != 2 || s[1] != `device_del {"id":"nope"}` {
		t.Errorf("requests = %q", s)
	}
}

// A socket that never appears ends with ctx.
func TestQMPWaitsThenGivesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := QMP(ctx, filepath.Join(t.TempDir(), "none.sock"), "query-status", nil)
	if err == nil || time.Since(start) < 250*time.Millisecond {
		t.Errorf("err = %v after %s, want a wait then an error", err, time.Since(start))
	}
}

// The contrib cuts parse, and ask for what their README says.
func TestContribCutsScan(t *testing.T) {
	dir, _ := filepath.Abs("../contrib/cuts")
	cfg := map[string]string{"rapido.fstests.src": t.TempDir()}
	for name, wantK := range map[string]string{
		"fstests-smoke": "CONFIG_ZRAM=y", "fstests-local": "CONFIG_XFS_FS=y",
		"usb-gadget": "CONFIG_USB_DUMMY_HCD=y", "multipath": "CONFIG_DM_MULTIPATH=y", "kselftest": "CONFIG_VIRTIO_BLK=y",
		"btrfs-seed": "CONFIG_BTRFS_FS=y", "storage-daemon": "CONFIG_VIRTIO_BLK=y",
	} {
		s := &Spec{Cut: CutOptions{Name: name, SearchPath: []string{dir},
			Lookup: func(k string) (string, bool) { v, ok := cfg[k]; return v, ok }}}
		ks, err := s.CutKconfig()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.Contains(strings.Join(ks, " "), wantK) {
			t.Errorf("%s: kconfig %q lacks %s", name, ks, wantK)
		}
	}
}
