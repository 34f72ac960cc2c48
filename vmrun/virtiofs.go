package vmrun

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
	"github.com/git-rapido/git-rapido/vmrun/internal/qemu"
	"github.com/git-rapido/git-rapido/vmrun/internal/tether"
)

// Shares over virtiofs (rapido.shareTransport): one virtiofsd per share,
// started next to QEMU with its socket in a private directory, tethered
// like the storage daemons so that none outlives the run.
//
// The transport is not in the cache key: 9p and virtiofs show the test
// the same files, as KVM and TCG run the same kernel; the verdict records
// which one served them (Verdict.ShareTransport), as it records the
// accelerator.

// virtiofsdEnv names the virtiofsd binary to use instead of the
// installed one (a path that does not exist means none is installed).
const virtiofsdEnv = "RAPIDO_VIRTIOFSD"

// virtiofsdPaths are where Debian installs virtiofsd: the virtiofsd
// package (Rust, Debian 13), QEMU's own C daemon (qemu-system-common,
// Debian 12).
var virtiofsdPaths = []string{"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"}

// virtiofsdPackage is the fix named when virtiofs is asked for and
// cannot be had.
const virtiofsdPackage = "install virtiofsd (Debian 13) or qemu-system-common (Debian 12), set " + virtiofsdEnv + ", or set rapido.shareTransport=9p"

// findVirtiofsd finds the daemon and reads from its --help what it can do;
// it says why there is none usable.
func findVirtiofsd() (qemu.Virtiofsd, string) {
	bin := os.Getenv(virtiofsdEnv)
	var cands []string
	if bin != "" {
		cands = []string{bin}
	} else {
		if p, err := exec.LookPath("virtiofsd"); err == nil {
			cands = append(cands, p)
		}
		cands = append(cands, virtiofsdPaths...)
	}
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, _ := exec.CommandContext(ctx, p, "--help").CombinedOutput()
		cancel()
		help := string(out)
		if !strings.Contains(help, "socket-path") {
			return qemu.Virtiofsd{}, fmt.Sprintf("%s is no virtiofsd (its --help names no --socket-path)", p)
		}
		d := qemu.Virtiofsd{Path: p, Rust: strings.Contains(help, "--shared-dir")}
		d.ReadOnly = d.Rust && strings.Contains(help, "--readonly")
		if !d.Rust && os.Geteuid() != 0 {
			return qemu.Virtiofsd{}, fmt.Sprintf("%s (QEMU's C virtiofsd) runs only as root", p)
		}
		// Without --readonly, as root: the read-only bind mount of the
		// share keeps it read-only (virtiofs_ro.go).
		d.ROBind = !d.ReadOnly && os.Geteuid() == 0
		return d, ""
	}
	if bin != "" {
		return qemu.Virtiofsd{}, fmt.Sprintf("%s not found", bin)
	}
	return qemu.Virtiofsd{}, "no virtiofsd found (" + strings.Join(append([]string{"virtiofsd in PATH"}, virtiofsdPaths...), ", ") + ")"
}

// shareTransports decides each share's transport for the run: virtiofs
// where rapido.shareTransport and the host allow it, else 9p. It returns
// the daemon (when any share uses it), a note per decision worth telling,
// and an error when virtiofs was asked for and cannot be had.
func shareTransports(mode string, shares []Share, find func() (qemu.Virtiofsd, string)) ([]bool, qemu.Virtiofsd, []string, error) {
	use := make([]bool, len(shares))
	if len(shares) == 0 || mode == "9p" {
		return use, qemu.Virtiofsd{}, nil, nil
	}
	d, why := find()
	if why != "" {
		if mode == "virtiofs" {
			return nil, d, nil, fmt.Errorf("rapido.shareTransport=virtiofs: %s (%s)", why, virtiofsdPackage)
		}
		return use, d, []string{"shares over 9p: " + why}, nil
	}
	var notes []string
	for i, s := range shares {
		if !s.RW && !d.ReadOnly && !d.ROBind {
			// The guest's root could remount the share rw: only a daemon
			// that refuses writes, or one that serves a read-only mount,
			// keeps it read-only, and 9p's does.
			notes = append(notes, fmt.Sprintf("share %s over 9p: it is read-only, %s cannot refuse writes (the Rust virtiofsd's --readonly can) and a read-only bind mount for it needs root", s.Host, d.Path))
			continue
		}
		use[i] = true
	}
	return use, d, notes, nil
}

// transportName is the verdict's word for the shares' transports.
func transportName(shares []qemu.Share) string {
	n9p, nfs := 0, 0
	for _, s := range shares {
		if s.Virtiofs() {
			nfs++
		} else {
			n9p++
		}
	}
	switch {
	case nfs == 0 && n9p == 0:
		return ""
	case nfs == 0:
		return "9p"
	case n9p == 0:
		return "virtiofs"
	}
	return "virtiofs+9p"
}

// virtiofsReadyTimeout bounds a daemon's start.
const virtiofsReadyTimeout = 30 * time.Second

// virtiofsRun is the daemons of one run.
type virtiofsRun struct {
	dir    string // the sockets (a unix socket path has 108 bytes at most)
	d      qemu.Virtiofsd
	self   string // git-rapido, the read-only wrapper (d.ROBind)
	logDir string
	trace  func([]string)
	shares []qemu.Share
	procs  []*virtiofsProc // per share; nil for a 9p share or one not started
	booted bool            // a boot used the daemons (forBoot)
}

type virtiofsProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	log    string
}

// planVirtiofs decides the transports of qc's shares and, for those over
// virtiofs, sets their sockets (in a private directory made now, or a
// placeholder for a dry run) and returns the run that will start their
// daemons. notes go to the progress output.
func (p *Plan) planVirtiofs(qc *qemu.Config, dry bool) (*virtiofsRun, []string, error) {
	use, d, notes, err := shareTransports(p.spec.QEMU.ShareTransport, p.shares(), findVirtiofsd)
	if err != nil || !anyTrue(use) {
		return nil, notes, err
	}
	dir := "<virtiofs-dir>"
	if !dry {
		removeStaleVirtiofsDirs()
		if dir, err = os.MkdirTemp("", fmt.Sprintf("%s%d-", virtiofsDirPrefix, os.Getpid())); err != nil {
			return nil, notes, fmt.Errorf("virtiofs: %w", err)
		}
	}
	shares := append([]qemu.Share(nil), qc.Shares...)
	for i := range shares {
		if use[i] {
			shares[i].Socket = filepath.Join(dir, shares[i].Tag+".sock")
		}
	}
	qc.Shares = shares
	qc.KernelArgs = append(append([]string(nil), qc.KernelArgs...), virtiofsParam(shares))
	self := ""
	if d.ROBind {
		if self, err = os.Executable(); err != nil {
			return nil, notes, fmt.Errorf("virtiofs: find git-rapido: %w", err)
		}
	}
	return &virtiofsRun{dir: dir, d: d, self: self, shares: shares, procs: make([]*virtiofsProc, len(shares))}, notes, nil
}

// virtiofsDirPrefix begins a run's socket directory in $TMPDIR, followed
// by the pid of the git rapido that made it.
const virtiofsDirPrefix = "rapido-vfs-"

// removeStaleVirtiofsDirs removes the socket directories of runs that are
// gone without removing their own (git rapido killed with SIGKILL: its
// daemons died with it, its directory did not): those whose pid no longer
// runs. Only sockets and empty directories are removed, one by one, never
// a tree: a directory that holds anything else is left alone. (A pid
// reused since keeps its directory until the next run after it.)
func removeStaleVirtiofsDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), virtiofsDirPrefix+"*"))
	for _, dir := range dirs {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), virtiofsDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if e.Type()&os.ModeSocket != 0 || e.IsDir() {
				os.Remove(p) // a directory only when empty
			}
		}
		os.Remove(dir)
	}
}

func anyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

// start starts the daemon of every virtiofs share that has none and
// waits until each listens. On an error nothing is left running.
func (r *virtiofsRun) start(ctx context.Context) error {
	if r == nil {
		return nil
	}
	for i, s := range r.shares {
		if !s.Virtiofs() || r.procs[i] != nil {
			continue
		}
		os.Remove(s.Socket)
		p, err := r.startOne(ctx, s)
		if err != nil {
			r.stop()
			return fmt.Errorf("share %s: %w", s.Path, err)
		}
		r.procs[i] = p
	}
	return nil
}

func (r *virtiofsRun) startOne(ctx context.Context, s qemu.Share) (*virtiofsProc, error) {
	logPath := filepath.Join(r.logDir, "virtiofsd-"+s.Tag+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	root := os.Geteuid() == 0
	var cmd *exec.Cmd
	if !s.RW && !r.d.ReadOnly {
		// The daemon serves a read-only bind mount of the share, made
		// on an empty directory next to the socket by the wrapper, in
		// the daemon's own mount namespace.
		mnt := filepath.Join(r.dir, s.Tag+".ro")
		if err := os.Mkdir(mnt, 0o700); err != nil && !os.IsExist(err) {
			log.Close()
			return nil, err
		}
		cmd = roWrapperCommand(r.self, s.Path, mnt, r.d.Path, qemu.VirtiofsdArgs(r.d, s.Socket, mnt, s.RW, root))
	} else {
		cmd = exec.Command(r.d.Path, qemu.VirtiofsdArgs(r.d, s.Socket, s.Path, s.RW, root)...)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, pw
	// Its own process group: a terminal's Ctrl-C reaches git rapido,
	// which stops the daemon after QEMU.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if r.trace != nil {
		r.trace(cmd.Args)
	}
	done, err := tether.Start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		log.Close()
		return nil, fmt.Errorf("start %s: %w (%s)", r.d.Path, err, virtiofsdPackage)
	}
	p := &virtiofsProc{cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() { p.err = <-done; close(p.exited) }()
	// The daemon says when its socket listens; its stderr is copied to
	// the log all along, and its last line is the reason when it exits.
	ready, read := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	last := ""
	go func() {
		defer log.Close()
		sc := bufio.NewScanner(pr)
		said := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			mu.Lock()
			if strings.TrimSpace(line) != "" {
				last = line
			}
			mu.Unlock()
			if !said && strings.Contains(line, qemu.VirtiofsdReady) {
				said = true
				close(ready)
			}
		}
		io.Copy(log, pr)
		pr.Close()
		close(read)
	}()
	timer := time.NewTimer(virtiofsReadyTimeout)
	defer timer.Stop()
	name := filepath.Base(r.d.Path)
	select {
	case <-ready:
		return p, nil
	case <-p.exited:
		// The reader gets the daemon's last words (a child of the
		// daemon holding its stderr is given a second at most).
		select {
		case <-read:
		case <-time.After(time.Second):
		}
		mu.Lock()
		why := last
		mu.Unlock()
		if why == "" {
			why = "no message"
		}
		return nil, fmt.Errorf("%s %s: %s (log: %s)", name, exitText(p.err), why, logPath)
	case <-timer.C:
		p.kill()
		return nil, fmt.Errorf("%s did not start within %s (log: %s)", name, virtiofsReadyTimeout, logPath)
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
}

func (p *virtiofsProc) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// forBoot readies the daemons for a boot: a daemon serves one QEMU, so a
// boot after the first (the fallback from the fast path, TCG after a
// failed KVM probe) gets fresh ones.
func (r *virtiofsRun) forBoot(ctx context.Context) error {
	if r == nil {
		return nil
	}
	if r.booted {
		r.stopDaemons()
	}
	r.booted = true
	return r.start(ctx)
}

// stop ends every daemon still running and removes the sockets.
func (r *virtiofsRun) stop() {
	if r == nil {
		return
	}
	r.stopDaemons()
	if r.dir != "" && !strings.HasPrefix(r.dir, "<") {
		os.RemoveAll(r.dir)
	}
}

// stopDaemons ends every daemon still running (QEMU has gone; each would
// exit of itself once QEMU hangs up, but one that never got a connection
// would not).
func (r *virtiofsRun) stopDaemons() {
	for i, p := range r.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.exited:
		default:
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(storageStopGrace):
				p.kill()
			}
		}
		r.procs[i] = nil
	}
}

// died says which daemon failed while the VM ran, or "": the guest lost
// a share's files, so whatever it reported says nothing of the kernel. A
// daemon that ended cleanly is not one: virtiofsd leaves with status 0 when
// QEMU hangs up, which is how a run ends.
func (r *virtiofsRun) died() string {
	if r == nil {
		return ""
	}
	for i, p := range r.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.exited:
			if p.err != nil {
				return fmt.Sprintf("share %s: %s %s while the VM ran (log: %s)", r.shares[i].Path, filepath.Base(r.d.Path), exitText(p.err), p.log)
			}
		default:
		}
	}
	return ""
}

// virtiofsParam tells the guest which shares to mount over virtiofs.
func virtiofsParam(shares []qemu.Share) string {
	var tags []string
	for _, s := range shares {
		if s.Virtiofs() {
			tags = append(tags, s.Tag)
		}
	}
	return guest.VirtiofsParam + strings.Join(tags, ",")
}
