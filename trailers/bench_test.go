package trailers

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// benchMessage is a 4 KiB commit message: a title, a long body and a
// kernel-style trailer block.
func benchMessage() []byte {
	var b strings.Builder
	b.WriteString("net: sched: fix a use-after-free in the frobnicator qdisc\n\n")
	for i := 0; b.Len() < 3600; i++ {
		fmt.Fprintf(&b, "Paragraph %d explains, at some length, why the frobnicator frees the\nqueue before the last reference is dropped, and how this was found.\n", i)
		if i%3 == 2 {
			b.WriteString("\n")
		}
	}
	b.WriteString("\nFixes: 123456789abc (\"net: sched: add the frobnicator\")\n")
	b.WriteString("Reported-by: syzbot+0123456789abcdef@syzkaller.appspotmail.com\n")
	b.WriteString("Link: https://lore.kernel.org/r/20261123.frob@example.com\n")
	b.WriteString("Signed-off-by: A U Thor <author@example.com>\n")
	for b.Len() < 4096 {
		b.WriteString("Cc: stable@vger.kernel.org\n")
	}
	return []byte(b.String())
}

const benchTrailer = "Tested-by: git rapido <rapido@example.com>"

// BenchmarkAddInProcess adds one trailer to a 4 KiB message with this
// package; compare with BenchmarkAddSpawnGit from the same run.
func BenchmarkAddInProcess(b *testing.B) {
	msg := benchMessage()
	cfg := DefaultConfig()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Add(msg, cfg, "Tested-by", "git rapido <rapido@example.com>", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddSpawnGit does the same work by running
// "git interpret-trailers --trailer ...", as a caller without this package
// would, and checks both give the same bytes.
func BenchmarkAddSpawnGit(b *testing.B) {
	needGit(b)
	msg := benchMessage()
	dir := b.TempDir()
	run := func() []byte {
		cmd := exec.Command("git", "interpret-trailers", "--trailer", benchTrailer)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, hermeticEnv(dir), bytes.NewReader(msg)
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	want, _ := Add(msg, DefaultConfig(), "Tested-by", "git rapido <rapido@example.com>", nil)
	if got := run(); !bytes.Equal(got, want) {
		b.Fatalf("git and the engine differ:\n%q\n%q", got, want)
	}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		run()
	}
}
