package rebase

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPreflight(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r *runner)
		want  string // "" means accepted
	}{
		{"clean", func(t *testing.T, r *runner) { commitFile(t, r) }, ""},
		{"detached", func(t *testing.T, r *runner) { commitFile(t, r); run(t, r, "checkout", "-q", "--detach") }, ""},
		{"sha256", func(t *testing.T, r *runner) {
			os.RemoveAll(filepath.Join(r.Dir, ".git"))
			run(t, r, "init", "-q", "--object-format=sha256")
			commitFile(t, r)
		}, ""},
		{"unborn", func(t *testing.T, r *runner) {}, "HEAD has no commit yet"},
		{"dirty", func(t *testing.T, r *runner) {
			commitFile(t, r)
			os.WriteFile(filepath.Join(r.Dir, "f"), []byte("b\n"), 0o644)
		}, "uncommitted changes"},
		{"unknown format", func(t *testing.T, r *runner) {
			commitFile(t, r)
			run(t, r, "config", "core.repositoryFormatVersion", "1")
			run(t, r, "config", "extensions.rapidoNoSuchExtension", "true")
		}, "cannot read the repository"},
		{"no committer", func(t *testing.T, r *runner) {
			commitFile(t, r)
			run(t, r, "config", "user.useConfigOnly", "true")
			r.Env = append(r.Env, "GIT_COMMITTER_NAME=", "GIT_COMMITTER_EMAIL=")
		}, "committer identity"},
		{"ssh signing", func(t *testing.T, r *runner) {
			commitFile(t, r)
			run(t, r, "config", "commit.gpgSign", "true")
			run(t, r, "config", "gpg.format", "ssh")
		}, "gpg.format=ssh is not supported"},
		{"no signing key", func(t *testing.T, r *runner) {
			if _, err := exec.LookPath("gpg"); err != nil {
				t.Skip("gpg is not installed")
			}
			commitFile(t, r)
			gnupg := filepath.Join(r.Dir, ".gnupg")
			os.MkdirAll(gnupg, 0o700)
			r.Env = append(r.Env, "GNUPGHOME="+gnupg)
			run(t, r, "config", "commit.gpgSign", "true")
			run(t, r, "config", "user.signingKey", "nobody@example.org")
		}, `sign with gpg as "nobody@example.org"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := testRepo(t)
			tc.setup(t, r)
			err := Preflight(ctx, r, PreflightOptions{Dir: r.Dir})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Preflight = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Preflight = %v, want %q", err, tc.want)
			}
			var rf *Refusal
			if err != nil && !errors.Is(err, ErrDirty) && !errors.As(err, &rf) {
				t.Errorf("Preflight error %v carries no hint", err)
			}
		})
	}
}
