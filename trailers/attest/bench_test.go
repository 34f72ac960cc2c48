package attest

import (
	"fmt"
	"testing"
)

// BenchmarkVerify measures verifying one signed commit message in-process
// (trailer parsing, decoding, payload parsing, Ed25519 signature check);
// verdicts/s is the number to hold against the 2,000/s target of
// "git rapido verify".
func BenchmarkVerify(b *testing.B) {
	s, _, kr := keys(b)
	const n = 64
	msgs := make([][]byte, n)
	for i := range msgs {
		p := payload()
		p.TrailerValue = fmt.Sprintf("T Ester %d <tester@example.org>", i)
		msgs[i] = message(b, s, p)
	}
	v := &Verifier{Keys: kr}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs := v.Check(msgs[i%n], tree1)
		if len(rs) != 1 || rs[0].Status != OK {
			b.Fatalf("%+v", rs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
}
