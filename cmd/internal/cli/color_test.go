package cli

import (
	"strings"
	"testing"
	"time"
)

func TestParseColorWhen(t *testing.T) {
	for in, want := range map[string]string{
		"always": "always", "never": "never", "auto": "auto", "": "auto",
		"true": "auto", "yes": "auto", "1": "auto", "false": "never", "off": "never",
	} {
		if got, err := parseColorWhen(in); err != nil || got != want {
			t.Errorf("parseColorWhen(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseColorWhen("purple"); err == nil {
		t.Error("parseColorWhen(purple) accepted")
	}
}

// Padding is computed on the plain word, so coloured columns line up.
func TestPainterPad(t *testing.T) {
	on, off := painter{true}, painter{false}
	if got := off.pad("pass", 8); got != "pass    " {
		t.Errorf("off.pad = %q", got)
	}
	got := on.pad("fail", 8)
	if got != colorRed+"fail"+colorReset+"    " {
		t.Errorf("on.pad = %q", got)
	}
	if got := on.pad("stale", 6); !strings.HasPrefix(got, colorRed) {
		t.Errorf("stale not red: %q", got)
	}
	if got := on.pad("untested", 9); got != "untested " {
		t.Errorf("untested coloured: %q", got)
	}
}

func TestLogLine(t *testing.T) {
	e := logEntry{Commit: "0123456789abcdef", Subject: "s", Verdict: "pass", Source: "fresh",
		Duration: 734567 * time.Microsecond, Trailers: []string{}}
	got := logLine(e, painter{})
	if strings.HasSuffix(got, " ") {
		t.Errorf("trailing blank: %q", got)
	}
	if !strings.HasSuffix(got, "pass (fresh)         735ms") {
		t.Errorf("line = %q", got)
	}
	e.Duration = 2345 * time.Millisecond
	if got := logLine(e, painter{}); !strings.HasSuffix(got, "2.3s") {
		t.Errorf("line = %q", got)
	}
}
