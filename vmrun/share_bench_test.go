package vmrun

import (
	"context"
	"os"
	"testing"
)

// BenchmarkShareKey measures what keying a share adds to a test, on a real
// kernel worktree ($RAPIDO_BENCH_KERNEL, e.g. the real-share work clone),
// side by side with what every test already pays for the worktree check
// (ReadWorktree): a share of a subdirectory, and of the whole worktree
// (--pwd at the top).
func BenchmarkShareKey(b *testing.B) {
	repo := os.Getenv("RAPIDO_BENCH_KERNEL")
	if repo == "" {
		b.Skip("SKIPPING: set RAPIDO_BENCH_KERNEL to a kernel worktree")
	}
	ctx := context.Background()
	g := execGit{repo}
	b.Run("worktree-check", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ReadWorktree(ctx, g); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct{ name, dir string }{
		{"share-subdir", repo + "/tools/testing/selftests"},
		{"share-top", repo},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				k, err := readShareKey(ctx, g, repo, Share{Host: tc.dir, Guest: "/mnt/pwd"})
				if err != nil || k.tree == "" {
					b.Fatalf("%+v %v", k, err)
				}
			}
		})
	}
}
