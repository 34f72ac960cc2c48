package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEventEncoding pins the wire format documented in the package comment:
// the host and older guests must agree on it.
func TestEventEncoding(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Event: "init", UptimeMS: 680}, `{"event":"init","uptime_ms":680,"exit_code":0}`},
		{Event{Event: "result", ExitCode: 137, Signal: "killed", TimedOut: true, Tail: []string{"a", "b"}, UptimeMS: 1201},
			`{"event":"result","uptime_ms":1201,"exit_code":137,"signal":"killed","timed_out":true,"tail":["a","b"]}`},
		{Event{Event: "result", ExitCode: 126, Error: "read test spec: x"},
			`{"event":"result","uptime_ms":0,"exit_code":126,"error":"read test spec: x"}`},
	} {
		b, err := json.Marshal(tc.e)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.e, b, err, tc.want)
		}
	}
}

func TestParseEvents(t *testing.T) {
	in := `{"event":"init","uptime_ms":680}

{"event":"test-start","uptime_ms":702}
  {"event":"result","exit_code":3,"uptime_ms":1201,"tail":["x"]}  
`
	evs, err := ParseEvents(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{{Event: "init", UptimeMS: 680}, {Event: "test-start", UptimeMS: 702},
		{Event: "result", ExitCode: 3, UptimeMS: 1201, Tail: []string{"x"}}}
	if len(evs) != len(want) {
		t.Fatalf("ParseEvents = %+v", evs)
	}
	for i := range want {
		if evs[i].Event != want[i].Event || evs[i].ExitCode != want[i].ExitCode || evs[i].UptimeMS != want[i].UptimeMS ||
			!slices.Equal(evs[i].Tail, want[i].Tail) {
			t.Errorf("event %d = %+v; want %+v", i, evs[i], want[i])
		}
	}
	// A VM killed while writing leaves half a line: the events before it
	// are still returned, with an error.
	evs, err = ParseEvents(strings.NewReader(`{"event":"init","uptime_ms":1}` + "\n" + `{"event":"resu`))
	if err == nil || len(evs) != 1 || evs[0].Event != "init" {
		t.Errorf("truncated: %+v, %v; want the init event and an error", evs, err)
	}
	if evs, err := ParseEvents(strings.NewReader("")); err != nil || len(evs) != 0 {
		t.Errorf("empty: %+v, %v", evs, err)
	}
}

func TestRoundTrip(t *testing.T) {
	// What emit writes, ParseEvents reads.
	f, err := os.Create(filepath.Join(t.TempDir(), "port"))
	if err != nil {
		t.Fatal(err)
	}
	sent := []Event{{Event: "init", UptimeMS: 5}, {Event: "result", ExitCode: 1, Tail: []string{"line with \"quotes\"\tand tab"}}}
	for _, e := range sent {
		emit(nil, f, e)
	}
	emit(nil, nil, Event{Event: "ignored"}) // no port: nothing happens
	f.Seek(0, 0)
	got, err := ParseEvents(f)
	f.Close()
	if err != nil || len(got) != 2 || got[1].Tail[0] != sent[1].Tail[0] {
		t.Errorf("round trip = %+v, %v", got, err)
	}
}

func TestReadSpec(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "spec.json")
	os.WriteFile(p, []byte(`{"autorun":["/rapido/autorun/01-boot.sh"],"command":["echo","hi"],"modules":["foo"],
		"timeout_sec":30,"env":{"A":"1"},"hostname":"vm","shell":true}`), 0o644)
	s, err := readSpec(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Autorun, []string{"/rapido/autorun/01-boot.sh"}) || !slices.Equal(s.Command, []string{"echo", "hi"}) ||
		!slices.Equal(s.Modules, []string{"foo"}) || s.TimeoutSec != 30 || s.Env["A"] != "1" || s.Hostname != "vm" || !s.Shell {
		t.Errorf("readSpec = %+v", s)
	}
	os.WriteFile(p, []byte("{"), 0o644)
	if _, err := readSpec(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("readSpec(bad json) = %v; want an error naming the file", err)
	}
	if _, err := readSpec(filepath.Join(dir, "missing")); err == nil || !strings.HasPrefix(err.Error(), "read test spec: ") {
		t.Errorf("readSpec(missing) = %v", err)
	}
}

func TestGuestEnv(t *testing.T) {
	env := guestEnv(map[string]string{"FOO": "bar", "HOME": "/tmp"})
	if env[0] != "PATH="+guestPath || !slices.Contains(env, "TERM=linux") || !slices.Contains(env, "FOO=bar") {
		t.Errorf("guestEnv = %q", env)
	}
	// The test's own HOME comes after the default, so it wins in exec.
	if slices.Index(env, "HOME=/tmp") < slices.Index(env, "HOME=/root") {
		t.Errorf("guestEnv = %q; want the test's HOME after the default", env)
	}
}

func TestTailWriter(t *testing.T) {
	tw := &tailWriter{max: 3}
	fmt.Fprint(tw, "one\ntwo\nthr")
	fmt.Fprint(tw, "ee\nfour\nfi")
	if got := tw.lines(); !slices.Equal(got, []string{"three", "four", "fi"}) {
		t.Errorf("lines = %q; want the last 3 with the partial line", got)
	}
	fmt.Fprint(tw, "ve\n")
	if got := tw.lines(); !slices.Equal(got, []string{"three", "four", "five"}) {
		t.Errorf("lines = %q", got)
	}
	big := &tailWriter{max: tailLines}
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(big, "line %d\n", i)
	}
	if got := big.lines(); len(got) != tailLines || got[tailLines-1] != "line 999" || got[0] != "line 960" {
		t.Errorf("tail of 1000 lines = %d lines, %q..%q", len(got), got[0], got[len(got)-1])
	}
}

func TestUptime(t *testing.T) {
	if _, err := os.Stat("/proc/uptime"); err != nil {
		t.Skip("no /proc/uptime")
	}
	if ms := uptimeMS(); ms <= 0 {
		t.Errorf("uptimeMS() = %d", ms)
	}
}

// FuzzParseEvents: whatever reaches the verdict file (a guest killed
// mid-write, console noise), the host's parser does not panic and returns
// only events that were whole lines.
func FuzzParseEvents(f *testing.F) {
	f.Add(`{"event":"init","uptime_ms":680}` + "\n" + `{"event":"result","exit_code":1,"tail":["x"]}` + "\n")
	f.Add(`{"event":"resu`)
	f.Add("\n\n null \n[]\n")
	f.Fuzz(func(t *testing.T, in string) {
		evs, err := ParseEvents(strings.NewReader(in))
		if len(evs) > strings.Count(in, "\n")+1 {
			t.Fatalf("%d events from %d lines", len(evs), strings.Count(in, "\n")+1)
		}
		_ = err
	})
}

func TestRunTest(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.sh")
	os.WriteFile(script, []byte("echo from script\nexit 0\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644)
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "bg.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	for _, tc := range []struct {
		name     string
		spec     Spec
		code     int
		timedOut bool
		signal   string
		tail     string
	}{
		{"pass", Spec{Autorun: []string{script}, Command: []string{"/bin/sh", "-c", "echo ok"}}, 0, false, "", "ok"},
		{"fail", Spec{Command: []string{"/bin/sh", "-c", "echo bad; exit 3"}}, 3, false, "", "bad"},
		{"first-failure-stops", Spec{Autorun: []string{filepath.Join(dir, "missing.sh")}, Command: []string{"/bin/sh", "-c", "echo never"}},
			2, false, "", "missing.sh"},
		{"signal", Spec{Command: []string{"/bin/sh", "-c", "kill -9 $$"}}, 137, false, "killed", ""},
		{"no-such-command", Spec{Command: []string{"/no/such/cmd"}}, 127, false, "", "cannot run /no/such/cmd: fork/exec /no/such/cmd: no such file"},
		{"not-in-path", Spec{Command: []string{"rapido-no-such-program"}}, 127, false, "", "cannot run rapido-no-such-program"},
		{"not-executable", Spec{Command: []string{filepath.Join(dir, "noexec")}}, 126, false, "", "permission denied"},
		{"shell-not-found", Spec{Command: []string{"/bin/sh", "-c", "rapido-no-such-program"}}, 127, false, "", "not found"},
		{"timeout", Spec{Command: []string{"/bin/sh", "-c", "echo slow; sleep 30"}, TimeoutSec: 1}, 124, true, "", "timed out after 1s"},
		// A test that leaves a background process holding its output
		// has still finished: its exit status counts, at once.
		{"background-child", Spec{Command: []string{"/bin/sh", "-c", "sleep 30 & echo $! > " + filepath.Join(dir, "bg.pid") + "; echo started; exit 0"},
			TimeoutSec: 20}, 0, false, "", "started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var console strings.Builder
			start := time.Now()
			res := runTest(&console, &tc.spec, guestEnv(tc.spec.Env))
			if res.Event != "result" || res.ExitCode != tc.code || res.TimedOut != tc.timedOut || res.Signal != tc.signal {
				t.Errorf("runTest = %+v; want exit %d timed out %v signal %q", res, tc.code, tc.timedOut, tc.signal)
			}
			if tc.tail != "" && !strings.Contains(strings.Join(res.Tail, "\n"), tc.tail) {
				t.Errorf("tail %q lacks %q", res.Tail, tc.tail)
			}
			if !tc.timedOut && time.Since(start) > 5*time.Second {
				t.Errorf("runTest took %v", time.Since(start))
			}
		})
	}
}

// TestIsGuest: the guest side runs only as PID 1 of a kernel booted with
// the marker; a binary named init elsewhere, or PID 1 of a container, is not
// the guest.
func TestIsGuest(t *testing.T) {
	const ours = "console=ttyS0 panic=-1 rdinit=/init rapido.guest=1 quiet"
	for _, tc := range []struct {
		pid     int
		cmdline string
		want    bool
	}{
		{1, ours, true},
		{1, "rapido.guest=1", true},
		{1, ours + "\n", true},
		{4242, ours, false}, // not PID 1: a host process named init
		{1, "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro", false}, // a host's or container's PID 1
		{1, "", false}, // no /proc/cmdline
		{1, "rapido.guest=0 rapido.guest=10", false},        // only the exact marker
		{1, "xrapido.guest=1 rapido.guest=1x", false},       // not a substring match
		{1, "console=ttyS0 rapido.hostname=rapido1", false}, // other rapido parameters are not the marker
	} {
		if got := IsGuest(tc.pid, tc.cmdline); got != tc.want {
			t.Errorf("IsGuest(%d, %q) = %v; want %v", tc.pid, tc.cmdline, got, tc.want)
		}
	}
}

// The boot cut's check runs in /init itself: it prints what booted and
// passes on a kernel that serves /proc/version.
func TestBootCheck(t *testing.T) {
	var console bytes.Buffer
	res := runTest(&console, &Spec{BootCheck: true}, nil)
	if res.ExitCode != 0 {
		t.Fatalf("boot check exit %d: %s", res.ExitCode, console.String())
	}
	if !strings.Contains(console.String(), ConsoleTestPrefix+"Linux ") {
		t.Errorf("console = %q; want the uname line", console.String())
	}
	// A command after it still runs; a failing one is the verdict.
	res = runTest(&console, &Spec{BootCheck: true, Command: []string{"false"}}, nil)
	if res.ExitCode != 1 {
		t.Errorf("exit %d; want the command's 1", res.ExitCode)
	}
}
