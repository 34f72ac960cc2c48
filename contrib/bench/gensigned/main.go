// Command gensigned writes a git fast-import stream of n commits, each with a
// Tested-by: trailer and its Rapido-Attest: signature for the commit's real
// tree, and the trusted public key next to it. It feeds bench-verify.sh,
// which would otherwise spend minutes running "git rapido test" n times.
//
//	gensigned -n 1000 -pub /tmp/pub.asc | git fast-import --quiet
//
// Commit i's tree holds one file, "f", whose content is "change i\n"; the
// tree id is computed here the way git does (SHA-1 object ids).
package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/git-rapido/git-rapido/trailers/attest"
)

func objectID(kind string, body []byte) []byte {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(body))
	h.Write(body)
	return h.Sum(nil)
}

func treeOf(content string) string {
	blob := objectID("blob", []byte(content))
	entry := append([]byte("100644 f\x00"), blob...)
	return fmt.Sprintf("%x", objectID("tree", entry))
}

func main() {
	n := flag.Int("n", 1000, "number of signed commits")
	pub := flag.String("pub", "pub.asc", "write the signing key's public part to `file`")
	flag.Parse()
	s, err := attest.GenerateKey(&bytes.Buffer{}, "Bench Tester", "bench@example.org", nil, time.Unix(1700000000, 0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gensigned:", err)
		os.Exit(1)
	}
	var pb bytes.Buffer
	s.WritePublic(&pb)
	if err := os.WriteFile(*pub, pb.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gensigned:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	commit := func(mark int, msg, content string) {
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter Bench <bench@example.org> %d +0000\ndata %d\n%s\n",
			mark, 1700000000+mark, len(msg), msg)
		if mark > 1 {
			fmt.Fprintf(w, "from :%d\n", mark-1)
		}
		fmt.Fprintf(w, "M 100644 inline f\ndata %d\n%s\n", len(content), content)
	}
	commit(1, "base\n", "base\n")
	fmt.Fprintf(w, "reset refs/heads/base\nfrom :1\n\n")
	for i := 1; i <= *n; i++ {
		content := fmt.Sprintf("change %d\n", i)
		p := &attest.Payload{TrailerKey: "Tested-by", TrailerValue: "Bench Tester <bench@example.org>", Verdict: "pass",
			Tree: treeOf(content), PatchID: attest.None, Spec: attest.None, Kernel: "6.1.0",
			Time: time.Unix(1700000000+int64(i), 0).UTC()}
		v, err := s.Sign(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gensigned:", err)
			os.Exit(1)
		}
		msg := fmt.Sprintf("bench: change %d\n\nSigned-off-by: A U Thor <author@example.com>\nTested-by: %s\n%s: %s\n",
			i, p.TrailerValue, attest.Key, attest.Fold(attest.Key, v))
		commit(i+1, msg, content)
	}
}
