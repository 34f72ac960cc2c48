package vmrun

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// The host side of a cut: the kconfig items its manifest asks for, extra
// QEMU arguments, and host hooks that talk to the VM through QMP.

// cutHost scans the spec's cut manifest for its host-side directives.
func (s *Spec) cutHost() (*cut.Host, error) {
	o := s.Cut
	return cut.ScanHost(cut.Options{Name: o.Name, Manifest: o.Manifest, Script: o.Script,
		Command: o.Command, SearchPath: o.SearchPath, Lookup: o.Lookup, Shares: o.Shares, Workdir: o.Workdir})
}

// CutKconfig returns the kconfig items the spec's cut asks for, in order:
// the build merges them after rapido.kconfig.
func (s *Spec) CutKconfig() ([]string, error) {
	h, err := s.cutHost()
	if err != nil {
		return nil, err
	}
	return h.Kconfig, nil
}

// withCutKconfig appends the cut's kconfig items to the build's fragments,
// so that they are both configured and part of ConfigDigest.
func withCutKconfig(b BuildOptions, h *cut.Host) BuildOptions {
	if len(h.Kconfig) > 0 {
		b.Fragments = append(append([]string(nil), b.Fragments...), h.Kconfig...)
	}
	return b
}

// hookGrace is how long host hooks may keep running after QEMU exits
// before they are stopped.
const hookGrace = 5 * time.Second

// prepareTimeout bounds a hook's prepare phase (kselftest builds there).
const prepareTimeout = 15 * time.Minute

// cutQEMUArgs returns the cut's QEMU arguments with $RAPIDO_RUNDIR
// expanded, and the QMP socket when the cut has host hooks.
func cutQEMUArgs(h *cut.Host, runDir, qmpSocket string) []string {
	var out []string
	for _, a := range h.QEMUArgs {
		a = strings.ReplaceAll(a, "${RAPIDO_RUNDIR}", runDir)
		out = append(out, strings.ReplaceAll(a, "$RAPIDO_RUNDIR", runDir))
	}
	if len(h.Hooks) > 0 {
		out = append(out, "-qmp", "unix:"+qmpSocket+",server=on,wait=off")
	}
	return out
}

// cutHostRun runs a cut's host hooks around the VM.
type cutHostRun struct {
	host     *cut.Host
	logDir   string
	qmpDir   string
	env      []string
	progress io.Writer
	failure  string
	excerpt  []string
	files    []*os.File // hook logs, closed by cleanup
	trace    func([]string)
	storage  *storageRun  // the storage-daemon disks (storage.go)
	virtiofs *virtiofsRun // the shares' daemons (virtiofs.go)
}

// startCutHost adds the cut's QEMU arguments to qc and runs every hook's
// prepare phase ("SCRIPT prepare"), which must succeed before QEMU starts.
func startCutHost(ctx context.Context, h *cut.Host, qc *qemu.Config, bo BuildOptions, logDir string, progress io.Writer) (*cutHostRun, error) {
	r := &cutHostRun{host: h, logDir: logDir, progress: progress, trace: tracer(bo.Exec)}
	qmp := ""
	if len(h.Hooks) > 0 {
		// A unix socket path is limited to 108 bytes: the log directory
		// is often longer, so the socket lives in a short temp dir.
		dir, err := os.MkdirTemp("", "rapido-qmp-")
		if err != nil {
			return nil, fmt.Errorf("create qmp dir: %w", err)
		}
		r.qmpDir, qmp = dir, filepath.Join(dir, "qmp.sock")
		self, _ := os.Executable()
		r.env = append(os.Environ(), "RAPIDO_QMP="+qmp, "RAPIDO_RUNDIR="+logDir,
			"RAPIDO_CONSOLE="+qc.ConsoleLog, "RAPIDO_GIT_RAPIDO="+self,
			"RAPIDO_SRCDIR="+bo.SourceDir, "RAPIDO_BUILDDIR="+bo.BuildDir)
		for k, v := range h.Env {
			r.env = append(r.env, k+"="+v)
		}
	}
	qc.ExtraArgs = append(qc.ExtraArgs, cutQEMUArgs(h, logDir, qmp)...)
	for i, hook := range h.Hooks {
		pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
		cmd, logPath, err := r.command(pctx, i, hook, "prepare")
		if err != nil {
			cancel()
			r.cleanup()
			return nil, err
		}
		r.trace(cmd.Args)
		err = tether.Run(cmd)
		cancel()
		if err != nil {
			r.cleanup()
			return nil, fmt.Errorf("host-hook %s prepare: %w (log: %s)", filepath.Base(hook), err, logPath)
		}
	}
	// The daemons start last, next to QEMU, once nothing else can fail.
	st, err := startStorage(ctx, h.Storage, logDir, qc, r.trace)
	if err != nil {
		r.cleanup()
		return nil, err
	}
	r.storage = st
	return r, nil
}

func (r *cutHostRun) command(ctx context.Context, i int, hook, phase string) (*exec.Cmd, string, error) {
	logPath := filepath.Join(r.logDir, fmt.Sprintf("hook-%d-%s.log", i+1, filepath.Base(hook)))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("host-hook: %w", err)
	}
	cmd := exec.CommandContext(ctx, hook, phase)
	cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = r.env, f, f, r.logDir
	// Its own process group, so stopping the hook stops what it started;
	// started through tether, so that the hook dies with git rapido.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	r.files = append(r.files, f)
	return cmd, logPath, nil
}

type runningHook struct {
	name, log string
	cmd       *exec.Cmd
	done      <-chan error
}

// startHooks starts every hook's run phase ("SCRIPT run") in the
// background, with $RAPIDO_QMP naming QEMU's QMP socket.
func (r *cutHostRun) startHooks(ctx context.Context) []*runningHook {
	var hs []*runningHook
	for i, hook := range r.host.Hooks {
		cmd, logPath, err := r.command(ctx, i, hook, "run")
		var done <-chan error
		if err == nil {
			r.trace(cmd.Args)
			done, err = tether.Start(cmd)
		}
		if err != nil {
			r.failure = fmt.Sprintf("host-hook %s: %v", filepath.Base(hook), err)
			continue
		}
		fmt.Fprintf(r.progress, "boot: host-hook %s running\n", filepath.Base(hook))
		h := &runningHook{name: filepath.Base(hook), log: logPath, cmd: cmd, done: done}
		hs = append(hs, h)
	}
	return hs
}

// stopHooks waits hookGrace for the hooks to finish, then stops them. A
// hook that exited non-zero on its own fails the run; one still running
// when stopped does not.
func (r *cutHostRun) stopHooks(hs []*runningHook) {
	deadline := time.After(hookGrace)
	for _, h := range hs {
		var err error
		select {
		case err = <-h.done:
		case <-deadline:
			syscall.Kill(-h.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-h.done:
			case <-time.After(time.Second):
				syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
				<-h.done
			}
			continue
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && r.failure == "" {
			r.failure = fmt.Sprintf("host-hook %s exited %d", h.name, ee.ExitCode())
			r.excerpt = tailLines(h.log, 15)
		}
	}
}

// watch is bootAndWatch with the hooks running next to the VM.
func (r *cutHostRun) watch(ctx context.Context, s *Spec, qc qemu.Config, accel string) (*bootOutcome, error) {
	if r != nil {
		if err := r.virtiofs.forBoot(ctx); err != nil {
			return nil, err
		}
	}
	if r == nil || len(r.host.Hooks) == 0 {
		return bootAndWatch(ctx, s, qc, accel)
	}
	r.failure, r.excerpt = "", nil
	// The files exist before the hooks start (bootAndWatch empties them
	// again, which is harmless: QEMU has not started yet).
	if err := resetRunFiles(qc); err != nil {
		return nil, err
	}
	hs := r.startHooks(ctx)
	out, err := bootAndWatch(ctx, s, qc, accel)
	r.stopHooks(hs)
	return out, err
}

// boot is the interactive boot with the hooks running next to the VM.
func (r *cutHostRun) boot(ctx context.Context, s *Spec, qc qemu.Config) error {
	if r != nil {
		if err := r.virtiofs.forBoot(ctx); err != nil {
			return err
		}
	}
	if r == nil || len(r.host.Hooks) == 0 {
		return boot(ctx, s, qc)
	}
	hs := r.startHooks(ctx)
	err := boot(ctx, s, qc)
	r.stopHooks(hs)
	return err
}

// judge fails a passing verdict whose hook failed, and turns any verdict
// into cannot test when a storage or share daemon died under the VM.
func (r *cutHostRun) judge(v *Verdict) {
	if r == nil {
		return
	}
	// A disk that went away under the guest: the run cannot test.
	if why := r.storage.died(); why != "" {
		infra(v, errors.New(why))
		return
	}
	// So are a share's files.
	if why := r.virtiofs.died(); why != "" {
		infra(v, errors.New(why))
		return
	}
	if r.failure == "" || v.Status != Pass {
		return
	}
	v.Status, v.Reason, v.Excerpt = Fail, r.failure, r.excerpt
}

func (r *cutHostRun) cleanup() {
	if r == nil {
		return
	}
	// QEMU has exited: its disks' and shares' daemons go now.
	r.storage.stop()
	r.virtiofs.stop()
	for _, f := range r.files {
		f.Close()
	}
	if r.qmpDir != "" {
		os.RemoveAll(r.qmpDir)
	}
}

// QMP runs one command on the QEMU monitor at socket (a cut's host hook
// gets it as $RAPIDO_QMP) and returns the reply's "return" value. args is
// the command's JSON arguments object, or nil.
func QMP(ctx context.Context, socket, command string, args []byte) ([]byte, error) {
	return qemu.QMP(ctx, socket, command, args)
}
