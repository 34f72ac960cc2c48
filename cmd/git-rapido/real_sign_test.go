package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealSignedVerdict: "git rapido test" on a real kernel commit signs its
// Tested-by; verify says ok and records the kernel release that really
// booted; GnuPG checks the exported signature; an amend that changes the
// code makes the verdict stale, without any rebuild.
func TestRealSignedVerdict(t *testing.T) {
	r := requireReal(t, "real-tier")
	root, _ := filepath.Abs("../..")
	r.mustRun(t, r.clone, filepath.Join(root, "contrib/kernel/make-series.sh"), "fixtures")
	r.mustRun(t, r.clone, "git", "checkout", "-q", "-B", "sign-test", "fixture/pass")
	keys := t.TempDir()
	key, pub := filepath.Join(keys, "key.asc"), filepath.Join(keys, "pub.asc")
	r.mustRun(t, r.clone, r.bin, "key", "generate", "--no-passphrase", "-o", key)
	r.mustRun(t, r.clone, r.bin, "key", "export", "--key", key, "-o", pub)
	gitc := []string{"-c", "rapido.signingKey=" + key, "-c", "rapido.trustedKeys=" + pub}

	_, stderr, code := r.run(r.clone, "git", append(gitc, append([]string{"rapido", "test", "--accel", "auto"}, versionTest...)...)...)
	t.Logf("test: exit %d\n%s", code, stderr)
	if code != 0 {
		t.Fatalf("git rapido test exited %d", code)
	}
	out := r.mustRun(t, r.clone, "git", append(gitc, "rapido", "verify", "--json", "HEAD")...)
	var res struct {
		Commits []struct {
			Verdicts []struct {
				Status  string
				Payload struct {
					Kernel, Verdict, Tree string
				}
			}
		}
		OK bool
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if !res.OK || len(res.Commits) != 1 || len(res.Commits[0].Verdicts) != 1 {
		t.Fatalf("verify: %s", out)
	}
	v := res.Commits[0].Verdicts[0]
	tree := strings.TrimSpace(r.mustRun(t, r.clone, "git", "rev-parse", "HEAD^{tree}"))
	if v.Status != "ok" || v.Payload.Verdict != "pass" || v.Payload.Tree != tree || !strings.HasPrefix(v.Payload.Kernel, "6.1.") {
		t.Fatalf("verdict %+v, want ok/pass for tree %s on a 6.1 kernel", v, tree)
	}

	exp := t.TempDir()
	r.mustRun(t, r.clone, "git", append(gitc, "rapido", "verify", "--export", "HEAD", "--export-dir", exp)...)
	files, _ := filepath.Glob(filepath.Join(exp, "*-1.payload"))
	if len(files) != 1 {
		t.Fatalf("export wrote %v", files)
	}
	gnupg := t.TempDir()
	os.Chmod(gnupg, 0o700)
	r.env = append(r.env, "GNUPGHOME="+gnupg)
	r.mustRun(t, exp, "gpg", "--batch", "--quiet", "--import", pub)
	_, gpgOut, code := r.run(exp, "gpg", "--batch", "--verify", files[0]+".asc", files[0])
	if code != 0 || !strings.Contains(gpgOut, "Good signature") {
		t.Fatalf("gpg --verify: exit %d\n%s", code, gpgOut)
	}

	r.mustRun(t, r.clone, "sh", "-c", "echo '/* changed after the test */' >>init/version.c && git commit -q -a --amend --no-edit")
	out, _, code = r.run(r.clone, "git", append(gitc, "rapido", "verify", "HEAD")...)
	if code != 1 || !strings.Contains(out, "stale") || !strings.Contains(out, "the code changed after the verdict") {
		t.Fatalf("verify after an amend: exit %d\n%s", code, out)
	}
}
