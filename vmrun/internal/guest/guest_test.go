package guest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
