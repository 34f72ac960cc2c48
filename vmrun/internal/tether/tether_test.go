package tether

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestSurvivesCallerThreadExit: the parent-death signal follows the thread
// that forked. A caller on a goroutine that locked its thread and returns
// without unlocking ends that thread; the child must live on, because
// Start forks from a thread of its own that lives as long as the child.
func TestSurvivesCallerThreadExit(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	type result struct {
		done <-chan error
		err  error
	}
	got := make(chan result)
	var r result
	for r.done == nil && r.err == nil {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if syscall.Gettid() == syscall.Getpid() {
				// The main thread never ends (the runtime parks it):
				// try again on another.
				got <- result{}
				return
			}
			done, err := Start(cmd)
			got <- result{done, err}
		}()
		r = <-got
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if cmd.SysProcAttr.Pdeathsig != syscall.SIGKILL || !cmd.SysProcAttr.Setpgid {
		t.Errorf("SysProcAttr = %+v; want Pdeathsig SIGKILL and the caller's Setpgid kept", cmd.SysProcAttr)
	}
	select {
	case err := <-r.done:
		t.Fatalf("the child died when the caller's thread ended: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait's result never arrived")
	}
}

func TestRunReportsExit(t *testing.T) {
	if err := Run(exec.Command("sh", "-c", "exit 3")); err == nil {
		t.Fatal("Run of exit 3 = nil")
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("Run = %v; want exit status 3", err)
	}
	if _, err := Start(exec.Command("/nonexistent/qemu")); err == nil {
		t.Fatal("Start of a missing binary = nil")
	}
}
