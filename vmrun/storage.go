package vmrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/cut"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
	"github.com/git-rapido/git-rapido/vmrun/internal/tether"
)

// The host side of a cut's storage-daemon lines: one qemu-storage-daemon
// per disk, started before QEMU and stopped after it, tethered to git
// rapido so that none outlives the run, whichever way the run ends.

// storageEnv names the qemu-storage-daemon binary to use instead of the
// one in PATH.
const storageEnv = "RAPIDO_STORAGE_DAEMON"

// storageReadyTimeout bounds a daemon's start; one that has not greeted
// on its monitor by then is stopped and the run cannot test.
const storageReadyTimeout = 30 * time.Second

// storageStopGrace is how long a daemon gets to exit on SIGTERM (it
// flushes its image) before it is killed.
const storageStopGrace = 5 * time.Second

// storageRun is the daemons of one run.
type storageRun struct {
	dir   string // the sockets (a unix socket path has 108 bytes at most)
	procs []*storageProc
}

type storageProc struct {
	name    string // the disk
	log     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the daemon has exited and err is set
	err     error
	monitor *os.File // our end of the daemon's monitor
}

// storageBinary finds qemu-storage-daemon.
func storageBinary() (string, error) {
	bin := os.Getenv(storageEnv)
	if bin == "" {
		bin = "qemu-storage-daemon"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s not found (install qemu-system-common, or set %s)", bin, storageEnv)
	}
	return p, nil
}

// startStorage creates each disk's image in logDir (storage-NAME.img),
// starts its daemon, waits until it serves, and adds the disks to qc. On
// an error nothing is left running.
func startStorage(ctx context.Context, disks []cut.StorageDisk, logDir string, qc *qemu.Config, trace func([]string)) (*storageRun, error) {
	if len(disks) == 0 {
		return nil, nil
	}
	bin, err := storageBinary()
	if err != nil {
		return nil, fmt.Errorf("storage-daemon %s: %w", disks[0].Name, err)
	}
	dir, err := os.MkdirTemp("", "rapido-qsd-")
	if err != nil {
		return nil, fmt.Errorf("storage-daemon: %w", err)
	}
	s := &storageRun{dir: dir}
	var qd []qemu.StorageDisk
	for _, d := range disks {
		sd := qemu.StorageDisk{Name: d.Name, Export: d.Export, Options: d.Options,
			Image:  filepath.Join(logDir, "storage-"+d.Name+".img"),
			Socket: filepath.Join(dir, d.Name+".sock")}
		err := createImage(sd.Image, d.Size)
		if err == nil {
			err = s.start(ctx, bin, sd, filepath.Join(logDir, "storage-"+d.Name+".log"), trace)
		}
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("storage-daemon %s: %w", d.Name, err)
		}
		qd = append(qd, sd)
	}
	qc.ExtraArgs = append(qc.ExtraArgs, qemu.StorageQEMUArgs(qd, qc.Memory)...)
	return s, nil
}

// storageDryRun is startStorage's QEMU arguments for a dry run: the
// images where the run would create them, the sockets in a placeholder
// directory.
func storageDryRun(disks []cut.StorageDisk, runDir, memory string) []string {
	var qd []qemu.StorageDisk
	for _, d := range disks {
		qd = append(qd, qemu.StorageDisk{Name: d.Name, Export: d.Export, Options: d.Options,
			Image: filepath.Join(runDir, "storage-"+d.Name+".img"), Socket: filepath.Join("<storage-dir>", d.Name+".sock")})
	}
	return qemu.StorageQEMUArgs(qd, memory)
}

// createImage makes a fresh sparse raw image of size bytes.
func createImage(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// start runs one daemon and waits for its monitor's greeting, which it
// sends once every option is in effect (the export is listening). The
// monitor is a socketpair, so a daemon that exits shows as end of file:
// there is nothing to poll and no socket file to wait for.
func (s *storageRun) start(ctx context.Context, bin string, d qemu.StorageDisk, logPath string, trace func([]string)) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("monitor socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "qsd-monitor"), os.NewFile(uintptr(fds[1]), "qsd-monitor")
	defer theirs.Close()
	log, err := os.Create(logPath)
	if err != nil {
		ours.Close()
		return err
	}
	defer log.Close()
	// ExtraFiles[0] is the child's fd 3.
	cmd := exec.Command(bin, qemu.StorageDaemonArgs(d, 3)...)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a terminal's Ctrl-C reaches git rapido, which
	// stops the daemon after QEMU, not before.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if trace != nil {
		trace(cmd.Args)
	}
	done, err := tether.Start(cmd)
	if err != nil {
		ours.Close()
		return err
	}
	p := &storageProc{name: d.Name, log: logPath, cmd: cmd, exited: make(chan struct{}), monitor: ours}
	go func() { p.err = <-done; close(p.exited) }()
	s.procs = append(s.procs, p)
	theirs.Close()

	greeted := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(ours).ReadString('\n')
		if err == nil && !strings.Contains(line, `"QMP"`) {
			err = fmt.Errorf("unexpected monitor greeting %q", line)
		}
		greeted <- err
	}()
	timer := time.NewTimer(storageReadyTimeout)
	defer timer.Stop()
	select {
	case err := <-greeted:
		if err == nil {
			return nil
		}
		// End of file: the daemon exited; its reason is in the log.
		werr := p.wait(storageStopGrace)
		return fmt.Errorf("%s %s: %s (log: %s)", filepath.Base(bin), exitText(werr), firstLogLine(logPath, filepath.Base(bin)), logPath)
	case <-timer.C:
		return fmt.Errorf("%s did not start within %s (log: %s)", filepath.Base(bin), storageReadyTimeout, logPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exitText says how a daemon ended.
func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return fmt.Sprintf("exited %d", ee.ExitCode())
		}
		return ee.String()
	}
	if err == nil {
		return "exited 0"
	}
	return err.Error()
}

// firstLogLine is the daemon's first complaint, without its name.
func firstLogLine(path, name string) string {
	b, _ := os.ReadFile(path)
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if line == "" {
		return "no message"
	}
	return strings.TrimPrefix(line, name+": ")
}

// wait waits up to grace for the daemon to exit, then kills its group.
func (p *storageProc) wait(grace time.Duration) error {
	select {
	case <-p.exited:
	case <-time.After(grace):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	return p.err
}

// died says which daemon ended on its own while the VM ran, or "": the
// guest lost a disk, so whatever it reported says nothing of the kernel.
func (s *storageRun) died() string {
	if s == nil {
		return ""
	}
	for _, p := range s.procs {
		select {
		case <-p.exited:
			return fmt.Sprintf("storage-daemon %s: qemu-storage-daemon %s while the VM ran (log: %s)", p.name, exitText(p.err), p.log)
		default:
		}
	}
	return ""
}

// stop ends every daemon (SIGTERM lets it flush its image, SIGKILL after
// storageStopGrace) and removes the sockets.
func (s *storageRun) stop() {
	if s == nil {
		return
	}
	for _, p := range s.procs {
		select {
		case <-p.exited:
		default:
			syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
			p.wait(storageStopGrace)
		}
		p.monitor.Close()
	}
	s.procs = nil
	os.RemoveAll(s.dir)
}
