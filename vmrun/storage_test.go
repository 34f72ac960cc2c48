package vmrun

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/cut"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
)

// These tests start the real qemu-storage-daemon (make deps installs it
// with qemu-system-common); only QEMU is left out.

func needStorageDaemon(t *testing.T) {
	t.Helper()
	if _, err := storageBinary(); err != nil {
		t.Fatalf("%v: make deps installs it", err)
	}
}

// alive lists the processes whose command line names dir.
func alive(dir string) string {
	out, _ := exec.Command("pgrep", "-a", "-f", dir).Output()
	return strings.TrimSpace(string(out))
}

// An NBD disk: the daemon serves once startStorage returns (no waiting on
// the client's side), a write through the export lands in the image in
// the log directory, and stop leaves no daemon and no socket.
func TestStorageNBDServesAndStops(t *testing.T) {
	needStorageDaemon(t)
	t.Setenv("TMPDIR", t.TempDir())
	logDir := t.TempDir()
	qc := &qemu.Config{Memory: "256M"}
	s, err := startStorage(context.Background(), []cut.StorageDisk{{Name: "ndisk", Size: 1 << 20, Export: cut.ExportNBD}}, logDir, qc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(s.dir, "ndisk.sock")
	args := strings.Join(qc.ExtraArgs, " ")
	if !strings.Contains(args, "server.path="+sock+",export=ndisk") || strings.Contains(args, "memory-backend") {
		t.Errorf("QEMU args %q", args)
	}
	if alive(s.dir) == "" {
		t.Fatal("no daemon names the socket directory")
	}
	out, err := exec.Command("qemu-io", "-f", "raw", "-c", "write -P 0x5a 4096 4096", "nbd+unix:///ndisk?socket="+sock).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-io through the export: %v\n%s", err, out)
	}
	// A client that went away (QEMU exiting) does not end the daemon:
	// judge must not take the end of a run for a dead disk.
	if why := s.died(); why != "" {
		t.Errorf("after the client left: %s", why)
	}
	s.stop()
	if left := alive(s.dir); left != "" {
		t.Errorf("left running: %s", left)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("socket directory left: %v", err)
	}
	img, _ := os.ReadFile(filepath.Join(logDir, "storage-ndisk.img"))
	if len(img) != 1<<20 || !bytes.Equal(img[4096:8192], bytes.Repeat([]byte{0x5a}, 4096)) || img[0] != 0 {
		t.Errorf("the image (%d bytes) does not hold the write", len(img))
	}
}

// A vhost-user-blk disk: the export's socket exists when startStorage
// returns, and QEMU gets shared guest memory of the -m size.
func TestStorageVhostUserBlkReady(t *testing.T) {
	needStorageDaemon(t)
	t.Setenv("TMPDIR", t.TempDir())
	qc := &qemu.Config{Memory: "256M"}
	s, err := startStorage(context.Background(), []cut.StorageDisk{{Name: "vdisk", Size: 1 << 20, Export: cut.ExportVhostUserBlk}}, t.TempDir(), qc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if fi, err := os.Stat(filepath.Join(s.dir, "vdisk.sock")); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("export socket: %v", err)
	}
	// A client that connects and goes away does not end the daemon.
	c, err := net.Dial("unix", filepath.Join(s.dir, "vdisk.sock"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(200 * time.Millisecond) // give a wrongly exiting daemon the time to exit
	if why := s.died(); why != "" {
		t.Errorf("after the client left: %s", why)
	}
	args := strings.Join(qc.ExtraArgs, " ")
	if !strings.Contains(args, "memory-backend-memfd,id=rapido-mem,size=256M,share=on") || !strings.Contains(args, "vhost-user-blk-pci,chardev=storage-vdisk") {
		t.Errorf("QEMU args %q", args)
	}
}

// A daemon that refuses its options: one line with its reason, and
// nothing left running, also of the disks started before it.
func TestStorageDaemonFails(t *testing.T) {
	needStorageDaemon(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	qc := &qemu.Config{}
	_, err := startStorage(context.Background(), []cut.StorageDisk{
		{Name: "good", Size: 1 << 20, Export: cut.ExportNBD},
		{Name: "bad", Size: 1 << 20, Export: cut.ExportNBD, Options: []string{"bogus=1"}},
	}, t.TempDir(), qc, nil)
	t.Log(err)
	want := "storage-daemon bad: qemu-storage-daemon exited 1: --blockdev driver=file,"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "Parameter 'bogus' is unexpected") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line starting %q naming the parameter", err, want)
	}
	if left := alive(tmp); left != "" {
		t.Errorf("left running: %s", left)
	}
	if len(qc.ExtraArgs) != 0 {
		t.Errorf("QEMU args added for a failed start: %q", qc.ExtraArgs)
	}
}

func TestStorageDaemonMissing(t *testing.T) {
	t.Setenv(storageEnv, "/nonexistent/qemu-storage-daemon")
	_, err := startStorage(context.Background(), []cut.StorageDisk{{Name: "vdisk", Size: 1 << 20}}, t.TempDir(), &qemu.Config{}, nil)
	want := "storage-daemon vdisk: /nonexistent/qemu-storage-daemon not found (install qemu-system-common, or set RAPIDO_STORAGE_DAEMON)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

// A daemon that dies while the VM runs turns the verdict, whatever it
// was, into cannot test naming the disk.
func TestStorageDaemonDiesMidRun(t *testing.T) {
	needStorageDaemon(t)
	t.Setenv("TMPDIR", t.TempDir())
	s, err := startStorage(context.Background(), []cut.StorageDisk{{Name: "vdisk", Size: 1 << 20}}, t.TempDir(), &qemu.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	r := &cutHostRun{storage: s}
	v := &Verdict{Status: Pass}
	r.judge(v)
	if v.Status != Pass {
		t.Fatalf("judged %s with every daemon running: %s", v.Status, v.Reason)
	}
	s.procs[0].cmd.Process.Kill()
	<-s.procs[0].exited
	r.judge(v)
	if v.Status != Infra || !strings.HasPrefix(v.Reason, "storage-daemon vdisk: qemu-storage-daemon signal: killed while the VM ran (log: ") {
		t.Errorf("verdict %s %q, want infra naming the disk", v.Status, v.Reason)
	}
}
