// Package tether starts the processes a run owns (QEMU, a cut's host
// hooks) so that they die with git rapido, even when git rapido itself is
// killed with SIGKILL and has no chance to clean up.
//
// The means is Linux's parent-death signal (prctl PR_SET_PDEATHSIG, set by
// SysProcAttr.Pdeathsig): the child gets SIGKILL when its parent dies. The
// kernel ties it to the parent THREAD that forked the child, not to the
// process, and the Go runtime does end threads (one whose goroutine locked
// it and returned without unlocking, as namespace-switching code such as
// netlink's does). A child forked from such a thread would be killed in the
// middle of a run. So every child is forked and waited for on a goroutine
// locked to its thread for the child's whole life: that thread cannot end
// before the child does, only with the process.
package tether

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd with SIGKILL as its parent-death signal, keeping the
// rest of cmd.SysProcAttr (a process group, say). The channel receives
// cmd.Wait's result once the child has exited; use it instead of calling
// Wait.
func Start(cmd *exec.Cmd) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}

// Run is Start and wait.
func Run(cmd *exec.Cmd) error {
	done, err := Start(cmd)
	if err != nil {
		return err
	}
	return <-done
}
