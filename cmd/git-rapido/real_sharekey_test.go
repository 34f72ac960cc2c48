package main

// The real tier for a share's named key: a directory outside the
// repository, keyed on its content, read by a real guest over 9p, in the
// real-cuts clone (its kernel has 9p: no kernel of its own to build).

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealShareKey tests with a key=content share outside the repository:
// the guest runs the host's script, the second test is answered by the
// cache, and one byte changed in the share is tested again, the guest
// reading the new byte.
func TestRealShareKey(t *testing.T) {
	r, _ := setupRealCuts(t)
	r.mustRun(t, r.clone, "git", "config", "rapido.accel", "tcg")
	dir := t.TempDir()
	for name, text := range map[string]string{"my-test": "#!/bin/sh\necho \"share-key-test: code $(cat /mnt/d/code)\"\nexit $(cat /mnt/d/code)\n", "code": "0"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	share := dir + ":/mnt/d,key=content"
	test := func(want int) string {
		t.Helper()
		start := time.Now()
		_, stderr, code := r.run(r.clone, r.bin, "test", "--no-trailer", "--share", share, "--", "/mnt/d/my-test")
		t.Logf("test --share %s: exit %d in %s\n%s", share, code, time.Since(start).Round(time.Millisecond), stderr)
		if code != want || strings.Contains(stderr, "not cached") {
			t.Fatalf("exit %d, want %d and a cached verdict", code, want)
		}
		return stderr
	}
	if stderr := test(0); strings.Contains(stderr, "(cached)") {
		t.Fatal("the first test of a new share was answered by the cache")
	}
	if stderr := test(0); !regexp.MustCompile(`(?m)^rapido: pass \(cached\)`).MatchString(stderr) {
		t.Error("the second test of an unchanged share was not answered by the cache")
	}
	if err := os.WriteFile(filepath.Join(dir, "code"), []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stderr := test(1); !strings.Contains(stderr, "test exited 3") {
		t.Error("one byte changed in the share: the guest did not run the new content")
	}
}
