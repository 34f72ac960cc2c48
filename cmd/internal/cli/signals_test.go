package cli

import (
	"os"
	"testing"
)

// TestLostReader: a SIGPIPE interrupts only when stdout or stderr lost its
// reader, not when a write to some other pipe failed.
func TestLostReader(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	other, _ := os.CreateTemp(t.TempDir(), "out")
	defer other.Close()
	if lostReader(int(w.Fd()), int(other.Fd())) {
		t.Error("lostReader = true for a pipe whose reader is open and a file")
	}
	r.Close()
	if !lostReader(int(other.Fd()), int(w.Fd())) {
		t.Error("lostReader = false for a pipe whose reader closed")
	}
}
