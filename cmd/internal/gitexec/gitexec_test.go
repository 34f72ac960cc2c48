package gitexec

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestRunKeepsStderrAndExitCode(t *testing.T) {
	r := &Runner{}
	err := r.Run(r.Command(context.Background(), "sh", "-c", "echo oops >&2; exit 3"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Run() = %v, want *Error", err)
	}
	if e.ExitCode != 3 || strings.TrimSpace(e.Stderr) != "oops" {
		t.Errorf("Run() error = {exit %d, stderr %q}, want {3, oops}", e.ExitCode, e.Stderr)
	}
	if got := ExitCode(err); got != 3 {
		t.Errorf("ExitCode() = %d, want 3", got)
	}
	if want := "sh -c 'echo oops >&2; exit 3': oops"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestRunTeesStderrWhenCallerWantsIt(t *testing.T) {
	r := &Runner{}
	var mine bytes.Buffer
	cmd := r.Command(context.Background(), "sh", "-c", "echo seen >&2; exit 1")
	cmd.Stderr = &mine
	err := r.Run(cmd)
	if mine.String() != "seen\n" || !strings.Contains(err.Error(), "seen") {
		t.Errorf("stderr = %q, err = %v; want both to carry the output", mine.String(), err)
	}
}

func TestRunMissingProgram(t *testing.T) {
	r := &Runner{}
	err := r.Run(r.Command(context.Background(), "/nonexistent/rapido-nothing"))
	if ExitCode(err) != -1 || !errors.Is(err, exec.ErrNotFound) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Run(missing) = %v (exit %d), want a not-found error with exit -1", err, ExitCode(err))
	}
}

func TestTraceWritesCommandLines(t *testing.T) {
	var tr bytes.Buffer
	r := &Runner{Trace: &tr}
	if _, err := r.Output(context.Background(), "true", "a b", "c"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tr.String(), "trace: exec: true 'a b' c") {
		t.Errorf("trace = %q, want the quoted command line", tr.String())
	}
}

func TestTailBufferCaps(t *testing.T) {
	var b tailBuffer
	b.Write(bytes.Repeat([]byte("x"), maxStderr))
	b.Write([]byte("END"))
	if s := b.String(); len(s) != maxStderr || !strings.HasSuffix(s, "END") {
		t.Errorf("tailBuffer kept %d bytes ending %q, want %d ending END", len(s), s[len(s)-3:], maxStderr)
	}
}

func TestParseConfigZ(t *testing.T) {
	raw := "global\x00file:/h/.gitconfig\x00user.name\nA U Thor\x00" +
		"local\x00file:.git/config\x00Trailer.Sign.Key\nSigned-off-by\x00" +
		"local\x00file:.git/config\x00core.bare\x00" +
		"command\x00command line:\x00rapido.kconfig\nCONFIG_A=y\x00" +
		"command\x00command line:\x00rapido.kconfig\nCONFIG_B=y\x00"
	c, err := ParseConfigZ([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("user.name"); v != "A U Thor" {
		t.Errorf("Get(user.name) = %q", v)
	}
	// Section and name are case-insensitive, the subsection is not.
	if v, ok := c.Get("trailer.Sign.KEY"); !ok || v != "Signed-off-by" {
		t.Errorf("Get(trailer.Sign.KEY) = %q, %v", v, ok)
	}
	if _, ok := c.Get("trailer.sign.key"); ok {
		t.Errorf("Get(trailer.sign.key) found a value; subsections are case-sensitive")
	}
	if b, err := c.Bool("core.bare", false); err != nil || !b {
		t.Errorf("Bool(core.bare) = %v, %v; a bare key is true", b, err)
	}
	if got := c.All("rapido.kconfig"); strings.Join(got, ",") != "CONFIG_A=y,CONFIG_B=y" {
		t.Errorf("All(rapido.kconfig) = %q", got)
	}
	if e, _ := c.Lookup("user.name"); e.Scope != "global" || e.Origin != "file:/h/.gitconfig" {
		t.Errorf("Lookup(user.name) = %+v", e)
	}
}

func TestParseIntAndBool(t *testing.T) {
	for in, want := range map[string]int{"12": 12, "2k": 2048, "1m": 1 << 20, "1G": 1 << 30} {
		if got, err := ParseInt(in); err != nil || got != want {
			t.Errorf("ParseInt(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseInt("x1"); err == nil {
		t.Errorf("ParseInt(x1) succeeded")
	}
	for in, want := range map[string]bool{"yes": true, "On": true, "0": false, "": false, "2": true} {
		if got, err := ParseBool(in); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseBool("maybe"); err == nil {
		t.Errorf("ParseBool(maybe) succeeded")
	}
}

func TestReadConfigFromRealGit(t *testing.T) {
	home := t.TempDir()
	r := &Runner{Dir: home, Env: []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=rapido.memory", "GIT_CONFIG_VALUE_0=512M"}}
	c, err := r.ReadConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("rapido.memory"); v != "512M" {
		t.Errorf("Get(rapido.memory) = %q, want 512M from the environment", v)
	}
}
