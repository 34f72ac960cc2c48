package vmrun

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A read-only share over virtiofs with a daemon that cannot refuse writes
// itself (QEMU's C virtiofsd has no --readonly): the guest's root could
// remount the share rw, so the host side must refuse. git rapido starts
// the daemon through its own hidden "virtiofsd-ro" command, which makes a
// read-only bind mount of the share in a mount namespace of its own and
// then execs the daemon serving that mount: the same process, so the
// tether, the readiness line and died() see the daemon as before, and the
// host's mount table never changes (the mount dies with the namespace,
// when the daemon exits). It needs root, as the C daemon does.

// roWrapperCmd is the hidden command's name (cmd/internal/cli).
const roWrapperCmd = "virtiofsd-ro"

// roWrapperArgv0 is the name the wrapper is started under: the binary's
// own (a test binary standing in for it dispatches on it).
const roWrapperArgv0 = "git-rapido"

// roWrapperCommand returns the command that runs daemon with args (which
// serve mnt) after binding share read-only on mnt.
func roWrapperCommand(self, share, mnt, daemon string, args []string) *exec.Cmd {
	cmd := exec.Command(self, append([]string{roWrapperCmd, share, mnt, daemon}, args...)...)
	cmd.Args[0] = roWrapperArgv0
	return cmd
}

// VirtiofsdRO is "git rapido virtiofsd-ro <share> <mount point> <virtiofsd>
// [<argument>...]": in a new mount namespace, bind share on mount point
// read-only (every mount under it too), then exec virtiofsd. It returns
// only on an error, with the exit status: 129 for bad usage, 128 when the
// mount or the exec fails (one line on stderr, the daemon's log).
func VirtiofsdRO(args []string, stderr io.Writer) int {
	if len(args) < 3 {
		fmt.Fprintln(stderr, "usage: git rapido virtiofsd-ro <share> <mount point> <virtiofsd> [<argument>...]")
		return 129
	}
	share, mnt, daemon := args[0], args[1], args[2]
	// The namespace is this thread's (unshare affects the caller's
	// thread): the goroutine stays on it, and the exec happens from it.
	runtime.LockOSThread()
	if err := bindReadOnly(share, mnt); err != nil {
		fmt.Fprintf(stderr, "virtiofsd-ro: %v\n", err)
		return 128
	}
	path := daemon
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			fmt.Fprintf(stderr, "virtiofsd-ro: %v\n", err)
			return 128
		}
		path = p
	}
	err := syscall.Exec(path, args[2:], os.Environ())
	fmt.Fprintf(stderr, "virtiofsd-ro: exec %s: %v\n", path, err)
	return 128
}

// bindReadOnly makes, in a new mount namespace of the calling thread
// (locked to it), a recursive bind mount of share on mnt, read-only,
// nosuid and nodev, mounts under it included. The namespace is private
// first, so nothing of it reaches the host's.
func bindReadOnly(share, mnt string) error {
	src, err := filepath.EvalSymlinks(share)
	if err != nil {
		return fmt.Errorf("share: %w", err)
	}
	dst, err := filepath.EvalSymlinks(mnt)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w (it needs root)", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the mount namespace private: %w", err)
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, dst, err)
	}
	info, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return err
	}
	// A bind mount is made read-only by a remount of it alone: each
	// mount the recursive bind copied is remounted too, keeping noexec
	// (the kernel keeps the atime flags).
	for _, m := range mountsUnder(info, dst) {
		var st unix.Statfs_t
		if err := unix.Statfs(m, &st); err != nil {
			return fmt.Errorf("statfs %s: %w", m, err)
		}
		flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV)
		if st.Flags&unix.ST_NOEXEC != 0 {
			flags |= syscall.MS_NOEXEC
		}
		if err := syscall.Mount("", m, "", flags, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %w", m, err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil || st.Flags&unix.ST_RDONLY == 0 {
		return fmt.Errorf("%s is not read-only after the remount (%v)", dst, err)
	}
	return nil
}

// mountsUnder returns the mount points of a mountinfo table that are dir
// or below it, in the table's order (parents first).
func mountsUnder(info []byte, dir string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(info))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		m := unescapeMountinfo(f[4])
		if m == dir || strings.HasPrefix(m, dir+"/") || dir == "/" {
			out = append(out, m)
		}
	}
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space,
// \011, \012, \134).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
