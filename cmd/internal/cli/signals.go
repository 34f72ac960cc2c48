package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// errInterrupted is the cause of the context a signal cancels; it is
// context.Canceled for every check of ctx.Err().
type errInterrupted struct{ sig syscall.Signal }

func (e errInterrupted) Error() string        { return "interrupted by " + unix.SignalName(e.sig) }
func (e errInterrupted) Is(target error) bool { return target == context.Canceled }

// signalContext is cancelled by SIGINT, SIGTERM and SIGHUP, and by SIGPIPE
// when stdout or stderr is a pipe whose reader went away ("git rapido
// bisect ... | head"). Every command then stops and restores what it
// changed, as for Ctrl-C. Without this, Go dies of SIGPIPE on the first
// write to a broken stdout or stderr, in the middle of a bisect.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for sig := range ch {
			s, _ := sig.(syscall.Signal)
			// With SIGPIPE caught, a write to any broken pipe raises it:
			// one to a child's stdin that exited early is that write's
			// EPIPE error, not a reason to stop.
			if s == syscall.SIGPIPE && !lostReader(1, 2) {
				continue
			}
			cancel(errInterrupted{s})
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel(nil) }
}

// lostReader reports whether one of fds (stdout and stderr) has lost its
// reader: poll flags the write end of a pipe (or a socket) with no reader
// as an error.
func lostReader(fd ...int) bool {
	var fds []unix.PollFd
	for _, f := range fd {
		fds = append(fds, unix.PollFd{Fd: int32(f), Events: unix.POLLOUT})
	}
	if _, err := unix.Poll(fds, 0); err != nil {
		return false
	}
	for _, f := range fds {
		if f.Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return true
		}
	}
	return false
}

// interruption returns the signal that cancelled ctx, when one did: a
// command's error after that is a consequence of the signal.
func interruption(ctx context.Context) (errInterrupted, bool) {
	var e errInterrupted
	return e, ctx.Err() != nil && errors.As(context.Cause(ctx), &e)
}

// interruptedMessage is the one line printed for an interrupted command.
func interruptedMessage(err error) string {
	var e errInterrupted
	if errors.As(err, &e) && e.sig != syscall.SIGINT {
		return fmt.Sprintf("git-rapido: interrupted (%s)", unix.SignalName(e.sig))
	}
	return "git-rapido: interrupted"
}
