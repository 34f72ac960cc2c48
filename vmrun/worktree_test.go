package vmrun

import (
	"reflect"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/kbuild"
)

// TestParseNameStatus reads git diff --name-status -z, whose paths may hold
// any byte but NUL.
func TestParseNameStatus(t *testing.T) {
	got, err := parseNameStatus("M\x00fs/proc/version.c\x00A\x00a b\nc.h\x00D\x00old.c\x00")
	want := []kbuild.Change{{Path: "fs/proc/version.c"}, {Path: "a b\nc.h", Added: true}, {Path: "old.c"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseNameStatus = %+v, %v; want %+v", got, err, want)
	}
	if cs, err := parseNameStatus(""); err != nil || len(cs) != 0 {
		t.Errorf("empty diff: %+v, %v", cs, err)
	}
	if _, err := parseNameStatus("M\x00"); err == nil {
		t.Error("a status without its path was accepted")
	}
}
