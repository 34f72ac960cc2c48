package guest

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestShareOptions(t *testing.T) {
	flags, opts := shareOptions(Share{Tag: "rapido0", Path: "/mnt/pwd"})
	if flags != syscall.MS_RDONLY || opts != "trans=virtio,version=9p2000.L,msize=262144,cache=loose" {
		t.Errorf("ro share: flags %#x opts %q", flags, opts)
	}
	flags, opts = shareOptions(Share{Tag: "rapido1", Path: "/mnt/out", RW: true})
	if flags != 0 || opts != "trans=virtio,version=9p2000.L,msize=262144,cache=none" {
		t.Errorf("rw share: flags %#x opts %q", flags, opts)
	}
}

// TestRunTestInDir: --pwd's directory is where the test starts, so a
// relative program path and $PWD name the share.
func TestRunTestInDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "my-test"), []byte("#!/bin/sh\necho \"in $(pwd) PWD=$PWD\"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	spec := &Spec{Command: []string{"./my-test"}, Dir: dir}
	res := runTest(&console, spec, guestEnv(nil))
	if res.ExitCode != 3 {
		t.Fatalf("runTest = %+v; want exit 3 (the script's own)\n%s", res, console.String())
	}
	if want := "in " + dir + " PWD=" + dir; !strings.Contains(console.String(), want) {
		t.Errorf("console lacks %q:\n%s", want, console.String())
	}
	// Without a directory the test starts in / as before: ./my-test is
	// not there.
	console.Reset()
	res = runTest(&console, &Spec{Command: []string{"./my-test"}}, guestEnv(nil))
	if res.ExitCode != 127 {
		t.Errorf("runTest without Dir = %+v; want 127", res)
	}
}

func TestMountSharesNone(t *testing.T) {
	if err := mountShares(nil); err != nil {
		t.Errorf("mountShares(nil) = %v", err)
	}
}

// TestVirtiofsTags: the host names the virtiofs shares on the kernel
// command line; every other share is 9p.
func TestVirtiofsTags(t *testing.T) {
	for cmdline, want := range map[string]map[string]bool{
		"console=ttyS0 rapido.guest=1 quiet":                        {},
		"console=ttyS0 rapido.virtiofs=rapido0 quiet":               {"rapido0": true},
		"rapido.virtiofs=rapido0,rapido2\n":                         {"rapido0": true, "rapido2": true},
		"xrapido.virtiofs=rapido0 rapido.virtiofsx=rapido1 panic=1": {},
	} {
		if got := virtiofsTags(cmdline); !reflect.DeepEqual(got, want) {
			t.Errorf("virtiofsTags(%q) = %v, want %v", cmdline, got, want)
		}
	}
}
