// Package gitexec is the one place where git rapido starts external programs:
// git first, but also make and qemu. Every command line is traced when
// GIT_TRACE asks for it, and a failure comes back as *Error with the exit code
// and the tail of stderr kept, so callers can report what went wrong.
//
// Domain packages (vmrun, rebase, bisect, hooks) do not import this package;
// they declare the small interface they need and cmd injects a *Runner.
package gitexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Error is returned when a command exits non-zero or cannot be started.
type Error struct {
	Args     []string // argv, Args[0] is the program
	ExitCode int      // -1 when the program did not run or was killed by a signal
	Stderr   string   // what the program wrote to stderr (trimmed, capped)
	Err      error    // the underlying os/exec error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s: %s", strings.Join(quoteArgs(e.Args), " "), msg)
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode reports the exit status carried by err if it is (or wraps) an
// *Error, and -1 otherwise.
func ExitCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.ExitCode
	}
	return -1
}

// maxStderr caps how much stderr an *Error keeps: enough for git's messages
// and a compiler's first errors without holding a whole build log in memory.
const maxStderr = 64 << 10

// Runner starts external commands. The zero value runs in the current
// directory with the current environment and no tracing.
type Runner struct {
	Dir   string    // working directory; "" means the current one
	Env   []string  // extra KEY=VALUE entries appended to os.Environ()
	Trace io.Writer // where command lines are traced; nil means TraceFromEnv()
}

var (
	traceOnce sync.Once
	traceOut  io.Writer
)

// TraceFromEnv returns where GIT_TRACE sends traces: stderr for "1", "2" or
// "true", an absolute path for a file (appended to), nil when unset or off.
// This mirrors git's own GIT_TRACE so one variable traces both git and us.
func TraceFromEnv() io.Writer {
	traceOnce.Do(func() {
		v := os.Getenv("GIT_TRACE")
		switch strings.ToLower(v) {
		case "", "0", "false", "no", "off":
			return
		case "1", "2", "true", "yes", "on":
			traceOut = os.Stderr
			return
		}
		if filepath.IsAbs(v) {
			if f, err := os.OpenFile(v, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666); err == nil {
				traceOut = f
			}
		}
	})
	return traceOut
}

func (r *Runner) trace(args []string) {
	w := r.Trace
	if w == nil {
		w = TraceFromEnv()
	}
	if w == nil {
		return
	}
	now := time.Now()
	fmt.Fprintf(w, "%s git-rapido              trace: exec: %s\n",
		now.Format("15:04:05.000000"), strings.Join(quoteArgs(args), " "))
}

// TraceArgs traces a command line that the caller starts itself (QEMU, a
// cut's host hooks: long-lived processes in their own process group), so
// GIT_TRACE shows every process git rapido starts.
func (r *Runner) TraceArgs(argv []string) { r.trace(argv) }

// Command prepares name with args under ctx, with the runner's directory and
// environment. Use Run to start it so it is traced and errors are typed.
func (r *Runner) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = r.Dir
	if len(r.Env) > 0 {
		cmd.Env = append(os.Environ(), r.Env...)
	}
	return cmd
}

// Run starts cmd, waits for it, and returns an *Error on failure. If
// cmd.Stderr is nil, stderr is captured for the error; if it is set, a copy of
// its tail is still kept.
func (r *Runner) Run(cmd *exec.Cmd) error {
	r.trace(cmd.Args)
	var errBuf tailBuffer
	if cmd.Stderr == nil {
		cmd.Stderr = &errBuf
	} else {
		cmd.Stderr = io.MultiWriter(cmd.Stderr, &errBuf)
	}
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return &Error{Args: cmd.Args, ExitCode: code, Stderr: errBuf.String(), Err: err}
	}
	return nil
}

// Output runs name with args and returns its stdout.
func (r *Runner) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := r.Command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := r.Run(cmd)
	return out.Bytes(), err
}

// Git runs git with args and returns stdout with one trailing newline removed.
func (r *Runner) Git(ctx context.Context, args ...string) (string, error) {
	out, err := r.Output(ctx, "git", args...)
	return strings.TrimSuffix(string(out), "\n"), err
}

// GitInput runs git with args, feeding stdin, and returns stdout untrimmed.
func (r *Runner) GitInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := r.Command(ctx, "git", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := r.Run(cmd)
	return out.Bytes(), err
}

// tailBuffer keeps the last maxStderr bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - maxStderr; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// quoteArgs quotes arguments the way git's trace output does: each in single
// quotes when it holds anything a shell would split or expand.
func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == ',' || r == '+' || r == '@' ||
				(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return q
}

// Quote returns args joined as a shell-safe command line, for messages that
// tell the user what to run.
func Quote(args ...string) string { return strings.Join(quoteArgs(args), " ") }
