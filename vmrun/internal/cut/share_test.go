package cut

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

func TestParseShare(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"src/x": "x\n", "a file": "y\n", "empty/": ""})
	src := filepath.Join(dir, "src")
	for _, tc := range []struct {
		in   string
		want Share
	}{
		{src, Share{Host: src, Guest: src}},
		{src + ":/mnt/src", Share{Host: src, Guest: "/mnt/src"}},
		{src + ":/mnt/src:rw", Share{Host: src, Guest: "/mnt/src", RW: true}},
		{src + ":/mnt/src:ro", Share{Host: src, Guest: "/mnt/src"}},
		{"src:/mnt/src", Share{Host: src, Guest: "/mnt/src"}},               // relative to the base
		{"./src/:/s", Share{Host: src, Guest: "/s"}},                        // cleaned
		{"empty:/e", Share{Host: filepath.Join(dir, "empty"), Guest: "/e"}}, // an empty directory is readable
		{src + ":/mnt/src,key=content", Share{Host: src, Guest: "/mnt/src", Key: KeyContent}},
		{src + ":/mnt/src:ro,key=git", Share{Host: src, Guest: "/mnt/src", Key: KeyGit}},
		{src + ",key=git", Share{Host: src, Guest: src, Key: KeyGit}},
		{src + ":/mnt/a,b", Share{Host: src, Guest: "/mnt/a,b"}}, // a comma alone is a path's
	} {
		got, err := ParseShare(tc.in, dir)
		if err != nil || got != tc.want {
			t.Errorf("ParseShare(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "HOSTDIR is empty"},
		{":/mnt", "HOSTDIR is empty"},
		{"nosuch:/mnt", "nosuch: no such directory (create it or fix the path)"},
		{"a file:/mnt", "not a directory"},
		{"src/x/y:/mnt", "no such directory"},
		{src + ":mnt", `GUESTDIR "mnt" is not absolute`},
		{src + ":", "GUESTDIR is empty"},
		{src + ":/mnt/../etc", `GUESTDIR "/mnt/../etc" is not a clean path`},
		{src + ":/mnt/", "not a clean path"},
		{src + "://mnt", "not a clean path"},
		{src + ":/", "GUESTDIR / would hide the image"},
		{src + ":/proc", "git rapido's own"},
		{src + ":/dev/shm", "git rapido's own"},
		{src + ":/rapido/x", "git rapido's own"},
		{src + ":/init", "git rapido's own"},
		{src + ":/mnt:rx", `mode "rx": want ro or rw`},
		{src + ":/mnt:RW", `mode "RW": want ro or rw`},
		{src + ":/mnt:rw:x", "want HOSTDIR[:GUESTDIR[:ro|rw]][,key=git|content]"},
		{src + ":/mnt,key=mtime", `key "mtime": want key=content or key=git`},
		{src + ":/mnt,key=", `key "": want key=content or key=git`},
		{src + ":/mnt,key=Content", `key "Content": want key=content or key=git`},
		{src + ":/mnt,key=git,key=content", "key is named twice"},
		{src + ":/mnt:rw,key=content", "key=content on a writable share: a rw share is never cached; drop the key or share it ro"},
	} {
		_, err := ParseShare(tc.in, dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseShare(%q) = %v; want an error with %q", tc.in, err, tc.want)
		}
	}
}

// TestShareUnreadable: a directory QEMU could not list is refused with the
// fix. Root reads any directory, so there is nothing to refuse as root.
func TestShareUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read a mode 000 directory")
	}
	d := filepath.Join(t.TempDir(), "locked")
	os.Mkdir(d, 0)
	defer os.Chmod(d, 0o755)
	if _, err := ParseShare(d+":/mnt", "/"); err == nil || !strings.Contains(err.Error(), "cannot be read") || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("ParseShare(unreadable) = %v; want cannot be read ... chmod", err)
	}
}

func TestShareDirective(t *testing.T) {
	init := staticInit(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"m.cut":      "share data /mnt/data\nshare out /mnt/out rw\nshare data/sub /mnt/data/sub ro key=content\nshare data/sub /mnt/g key=git\n",
		"data/sub/x": "x\n",
		"out/":       "",
	})
	p, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Share{
		{Host: filepath.Join(dir, "data"), Guest: "/mnt/data"},
		{Host: filepath.Join(dir, "out"), Guest: "/mnt/out", RW: true},
		{Host: filepath.Join(dir, "data/sub"), Guest: "/mnt/g", Key: KeyGit},
		{Host: filepath.Join(dir, "data/sub"), Guest: "/mnt/data/sub", Key: KeyContent},
	}
	if !reflect.DeepEqual(p.Host.Shares, want) {
		t.Errorf("Shares = %+v\nwant %+v", p.Host.Shares, want)
	}
	// 9p is in the built-in fragment: a share asks the build for nothing.
	if len(p.Host.Kconfig) != 0 {
		t.Errorf("Kconfig %q; a share asks for no kconfig items", p.Host.Kconfig)
	}
	// The guest's spec names the mounts by tag, parents first.
	e := mustLookup(t, p.Image, guest.SpecPath, File)
	var gs guest.Spec
	if err := json.Unmarshal(e.Data, &gs); err != nil {
		t.Fatal(err)
	}
	wantG := []guest.Share{{Tag: "rapido0", Path: "/mnt/data"}, {Tag: "rapido1", Path: "/mnt/out", RW: true}, {Tag: "rapido2", Path: "/mnt/g"}, {Tag: "rapido3", Path: "/mnt/data/sub"}}
	if !reflect.DeepEqual(gs.Shares, wantG) {
		t.Errorf("guest shares = %+v; want %+v", gs.Shares, wantG)
	}
	// ScanHost (what the build reads) sees them too.
	h, err := ScanHost(Options{Manifest: filepath.Join(dir, "m.cut")})
	if err != nil || len(h.Shares) != 4 || len(h.Kconfig) != 0 {
		t.Errorf("ScanHost = %+v, %v", h, err)
	}
}

func TestShareOptions(t *testing.T) {
	init := staticInit(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"m.cut": "share a /mnt/a\n", "a/": "", "b/": ""})
	b := Share{Host: filepath.Join(dir, "b"), Guest: "/mnt/pwd"}
	p, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, Shares: []Share{b}, Workdir: "/mnt/pwd"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Host.Shares) != 2 || p.Host.Shares[1] != b || p.Spec.Dir != "/mnt/pwd" {
		t.Errorf("shares %+v dir %q", p.Host.Shares, p.Spec.Dir)
	}
	// Without shares, nothing changes: no kconfig, no guest mounts.
	p, err = Resolve(Options{Name: "boot", Init: init})
	if err != nil || len(p.Host.Kconfig) != 0 || p.Spec.Shares != nil {
		t.Errorf("boot cut: kconfig %q shares %v, %v", p.Host.Kconfig, p.Spec.Shares, err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Manifest: filepath.Join(dir, "m.cut"), Shares: []Share{{Host: b.Host, Guest: "/mnt/a"}}}, "two shares are mounted on /mnt/a"},
		{Options{Manifest: filepath.Join(dir, "m.cut"), Workdir: "/mnt/elsewhere"}, "the test's directory /mnt/elsewhere is in no share"},
		{Options{Manifest: filepath.Join(dir, "m.cut"), Shares: []Share{{Host: filepath.Join(dir, "gone"), Guest: "/g"}}}, "no such directory"},
	} {
		tc.o.Init = init
		if _, err := Resolve(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%+v) = %v; want %q", tc.o, err, tc.want)
		}
	}
}

func TestShareDirectiveErrors(t *testing.T) {
	init := staticInit(t)
	for _, tc := range []struct{ text, want string }{
		{"share a\n", "share: want HOSTDIR GUESTDIR [ro|rw]"},
		{"share a /m rw x\n", `share: "x": want HOSTDIR GUESTDIR [ro|rw] [key=git|content]`},
		{"share a /m rw key=git x\n", "share: want HOSTDIR GUESTDIR [ro|rw] [key=git|content]"},
		{"share a /m key=git ro\n", "share: want HOSTDIR GUESTDIR [ro|rw] [key=git|content]"},
		{"share a /m ro key=sha1\n", `share: key "sha1": want key=content or key=git`},
		{"share a /m rw key=content\n", "key=content on a writable share"},
		{"share nosuch /m\n", "no such directory"},
		{"share ok.txt /m\n", "not a directory"},
		{"share a m\n", "is not absolute"},
		{"share a /m/../n\n", "not a clean path"},
		{"share a /sys/x\n", "git rapido's own"},
		{"share a /m wr\n", `mode "wr": want ro or rw`},
		{"share a /m\nshare a /m\n", "two shares are mounted on /m"},
		{"vms 2\nshare a /m\n", "cannot share host directories"},
	} {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"m.cut": tc.text, "a/": "", "ok.txt": "ok\n"})
		_, err := Resolve(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want %q", tc.text, err, tc.want)
		}
		var me *ManifestError
		if strings.Count(tc.text, "\n") == 1 && !errors.As(err, &me) {
			t.Errorf("%q: error %v names no manifest line", tc.text, err)
		}
	}
}

// FuzzParseShare: whatever the flag says, a share that is accepted is an
// existing absolute host directory on a clean absolute mount point that is
// not git rapido's own.
func FuzzParseShare(f *testing.F) {
	dir := f.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	for _, s := range []string{"a", "a:/mnt", "a:/mnt:rw", "a/b:/x/../y", "::", "a:/proc/x:ro", "../" + filepath.Base(dir) + "/a:/m", "a:/:rw",
		"a:/m,key=git", "a,key=content", "a:/m:rw,key=git", "a:/m,key=", "a,key=git,key=content", "a:/m,b,key=git"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ParseShare(v, dir)
		if err != nil {
			return
		}
		if !filepath.IsAbs(s.Host) || checkHostDir(s.Host) != nil {
			t.Errorf("ParseShare(%q) accepted host %q", v, s.Host)
		}
		if checkGuestDir(s.Guest) != nil || s.Guest == "/" || !strings.HasPrefix(s.Guest, "/") {
			t.Errorf("ParseShare(%q) accepted guest %q", v, s.Guest)
		}
		// A key is one of the methods, never on a writable share, and
		// only where the flag named one.
		if k, err := parseKey(s.Key); s.Key != "" && (err != nil || k != s.Key || s.RW) {
			t.Errorf("ParseShare(%q) accepted key %q (rw %t)", v, s.Key, s.RW)
		}
		if s.Key != "" && !strings.HasSuffix(v, ",key="+s.Key) {
			t.Errorf("ParseShare(%q) keyed %q, which the flag does not end with", v, s.Key)
		}
	})
}
