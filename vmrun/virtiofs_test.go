package vmrun

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// TestMain keeps the host's virtiofsd out of the package's tests: a share
// goes over 9p unless a test asks for virtiofs with a daemon of its own.
//
// Run as git-rapido with virtiofsd-ro, the test binary is the read-only
// wrapper (TestVirtiofsdRO), as the git-rapido binary is for a run.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "git-rapido" && len(os.Args) > 1 && os.Args[1] == "virtiofsd-ro" {
		os.Exit(VirtiofsdRO(os.Args[2:], os.Stderr))
	}
	os.Setenv(virtiofsdEnv, "/nonexistent/virtiofsd")
	os.Exit(m.Run())
}

// TestShareTransports: auto takes virtiofs where a virtiofsd is found and
// can keep the share as read-only as asked, else 9p with a note; 9p never
// looks for a daemon; virtiofs without one is an error naming the fix.
func TestShareTransports(t *testing.T) {
	shares := []Share{{Host: "/src", Guest: "/mnt/src"}, {Host: "/out", Guest: "/mnt/out", RW: true}}
	none := func() (qemu.Virtiofsd, string) { return qemu.Virtiofsd{}, "no virtiofsd found" }
	cDaemon := func() (qemu.Virtiofsd, string) { return qemu.Virtiofsd{Path: "/usr/lib/qemu/virtiofsd"}, "" }
	// As root, QEMU's C daemon serves a read-only share from a read-only
	// bind mount made for it alone (virtiofsd-ro).
	cBind := func() (qemu.Virtiofsd, string) {
		return qemu.Virtiofsd{Path: "/usr/lib/qemu/virtiofsd", ROBind: true}, ""
	}
	rust := func() (qemu.Virtiofsd, string) {
		return qemu.Virtiofsd{Path: "/usr/libexec/virtiofsd", Rust: true, ReadOnly: true}, ""
	}
	looked := func() (qemu.Virtiofsd, string) { t.Error("9p looked for a virtiofsd"); return none() }
	for _, tc := range []struct {
		name, mode string
		find       func() (qemu.Virtiofsd, string)
		want       []bool
		note, err  string
	}{
		{"auto-none", "auto", none, []bool{false, false}, "shares over 9p: no virtiofsd found", ""},
		{"default-none", "", none, []bool{false, false}, "shares over 9p: no virtiofsd found", ""},
		{"auto-c", "auto", cDaemon, []bool{false, true}, "share /src over 9p: it is read-only, /usr/lib/qemu/virtiofsd cannot refuse writes (the Rust virtiofsd's --readonly can) and a read-only bind mount for it needs root", ""},
		{"auto-c-root", "auto", cBind, []bool{true, true}, "", ""},
		{"virtiofs-c-root", "virtiofs", cBind, []bool{true, true}, "", ""},
		{"auto-rust", "auto", rust, []bool{true, true}, "", ""},
		{"9p", "9p", looked, []bool{false, false}, "", ""},
		{"virtiofs-none", "virtiofs", none, nil, "", "rapido.shareTransport=virtiofs: no virtiofsd found (install virtiofsd (Debian 13) or qemu-system-common (Debian 12)"},
		{"virtiofs-c", "virtiofs", cDaemon, []bool{false, true}, "cannot refuse writes", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			use, _, notes, err := shareTransports(tc.mode, shares, tc.find)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(use, tc.want) {
				t.Fatalf("virtiofs = %v, %v; want %v", use, err, tc.want)
			}
			all := strings.Join(notes, "\n")
			if (tc.note == "") != (all == "") || !strings.Contains(all, tc.note) {
				t.Errorf("notes %q, want %q", all, tc.note)
			}
		})
	}
	// No shares: nothing to decide, no daemon looked for.
	if use, _, _, err := shareTransports("virtiofs", nil, looked); err != nil || len(use) != 0 {
		t.Errorf("no shares: %v, %v", use, err)
	}
}

func TestTransportName(t *testing.T) {
	v, n := qemu.Share{Socket: "/s"}, qemu.Share{}
	for want, shares := range map[string][]qemu.Share{"": nil, "9p": {n}, "virtiofs": {v, v}, "virtiofs+9p": {n, v}} {
		if got := transportName(shares); got != want {
			t.Errorf("transportName(%v) = %q, want %q", shares, got, want)
		}
	}
}

// TestVirtiofsRunDaemons runs stand-in daemons (shell scripts): a daemon
// is started when it says its socket listens, each boot after the first
// gets a fresh one (a virtiofsd serves one QEMU), stop leaves nothing
// running and removes the socket directory, and a daemon that exits
// before it is ready is an error with its last line.
func TestVirtiofsRunDaemons(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok-virtiofsd")
	os.WriteFile(ok, []byte("#!/bin/sh\necho starting >&2\necho 'virtiofsd: Waiting for vhost-user socket connection...' >&2\nexec sleep 60\n"), 0o755)
	bad := filepath.Join(dir, "bad-virtiofsd")
	os.WriteFile(bad, []byte("#!/bin/sh\necho starting >&2\necho 'fuse: cannot open the source' >&2\nexit 3\n"), 0o755)
	sockDir := t.TempDir()
	run := func(bin string) *virtiofsRun {
		return &virtiofsRun{dir: sockDir, d: qemu.Virtiofsd{Path: bin}, logDir: dir,
			shares: []qemu.Share{{Tag: "rapido0", Path: dir, RW: true, Socket: filepath.Join(sockDir, "rapido0.sock")}, {Tag: "rapido1", Path: dir}},
			procs:  make([]*virtiofsProc, 2)}
	}
	r := run(ok)
	ctx := context.Background()
	if err := r.forBoot(ctx); err != nil {
		t.Fatal(err)
	}
	if r.procs[1] != nil {
		t.Error("a daemon for a 9p share")
	}
	first := r.procs[0]
	if err := r.forBoot(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.exited:
	default:
		t.Error("the first boot's daemon still runs after the second boot's started")
	}
	second := r.procs[0]
	if second == first {
		t.Fatal("the second boot reused the first boot's daemon")
	}
	r.stop()
	select {
	case <-second.exited:
	default:
		t.Error("stop left the daemon running")
	}
	if _, err := os.Stat(sockDir); err == nil {
		t.Error("stop left the socket directory")
	}

	r = run(bad)
	r.dir = t.TempDir()
	err := r.forBoot(ctx)
	if err == nil || !strings.Contains(err.Error(), "bad-virtiofsd exited 3: fuse: cannot open the source (log: ") {
		t.Errorf("a daemon that exits at once: %v", err)
	}
}

// TestVirtiofsDied: a daemon that fails while the VM runs took the
// guest's files away, so whatever the guest reported says nothing of the
// kernel: died names it (judge makes the verdict cannot test). A daemon
// that is still running, or that ended cleanly (virtiofsd leaves when
// QEMU hangs up), is no such failure.
func TestVirtiofsDied(t *testing.T) {
	dir := t.TempDir()
	daemon := func(name, after string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("#!/bin/sh\necho 'virtiofsd: Waiting for vhost-user socket connection...' >&2\n"+after+"\n"), 0o755)
		return p
	}
	for _, tc := range []struct {
		name, after, want string
	}{
		{"crash", "sleep 0.2; kill -SEGV $$", "share " + dir + ": virtiofsd-crash signal: segmentation fault while the VM ran"},
		{"error", "sleep 0.2; exit 1", "share " + dir + ": virtiofsd-error exited 1 while the VM ran"},
		{"clean", "sleep 0.2; exit 0", ""},
		{"running", "exec sleep 60", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := t.TempDir()
			r := &virtiofsRun{dir: sock, d: qemu.Virtiofsd{Path: daemon("virtiofsd-"+tc.name, tc.after)}, logDir: dir,
				shares: []qemu.Share{{Tag: "rapido0", Path: dir, RW: true, Socket: filepath.Join(sock, "rapido0.sock")}},
				procs:  make([]*virtiofsProc, 1)}
			if err := r.forBoot(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer r.stop()
			if tc.name != "running" {
				<-r.procs[0].exited
			}
			got := r.died()
			if tc.want == "" && got != "" || tc.want != "" && !strings.HasPrefix(got, tc.want) {
				t.Errorf("died() = %q, want %q", got, tc.want)
			}
			// The verdict the guest gave is then not the kernel's.
			v := &Verdict{Status: Fail, Reason: "test exited 1"}
			(&cutHostRun{virtiofs: r}).judge(v)
			if want := map[bool]Status{true: Fail, false: Infra}[tc.want == ""]; v.Status != want {
				t.Errorf("judge: %s (%s), want %s", v.Status, v.Reason, want)
			}
		})
	}
	var none *virtiofsRun
	if none.died() != "" {
		t.Error("no daemons, yet one died")
	}
}

// TestRemoveStaleVirtiofsDirs: a run killed with SIGKILL leaves its socket
// directory (its daemons die with it, tethered); the next run removes the
// directories whose run is gone — their sockets and the empty read-only
// mount points — and leaves a live run's, and anything that is not
// plainly a leftover (a directory with files in it), alone.
func TestRemoveStaleVirtiofsDirs(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(tmp, fmt.Sprintf("rapido-vfs-%d-1", gone.Process.Pid))
	live := filepath.Join(tmp, fmt.Sprintf("rapido-vfs-%d-2", os.Getpid()))
	odd := filepath.Join(tmp, fmt.Sprintf("rapido-vfs-%d-3", gone.Process.Pid))
	other := filepath.Join(tmp, "rapido-vfs-notapid")
	for _, d := range []string{dead + "/rapido0.ro", live + "/rapido0.ro", odd + "/rapido0.ro", other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead + "/rapido0.sock", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	os.WriteFile(odd+"/rapido0.ro/precious", []byte("x"), 0o600)
	removeStaleVirtiofsDirs()
	if _, err := os.Stat(dead); err == nil {
		t.Error("the dead run's directory is left")
	}
	for _, d := range []string{live + "/rapido0.ro", odd + "/rapido0.ro/precious", other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
}
