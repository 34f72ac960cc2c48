package attest

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParsePayload: whatever parses re-encodes to the same bytes (the
// encoding is canonical), and nothing panics.
func FuzzParsePayload(f *testing.F) {
	p := payload()
	p.Signer = "0123456789ABCDEF0123456789ABCDEF01234567"
	b, _ := p.Encode()
	f.Add(b)
	f.Add([]byte(Magic + "\n"))
	f.Add([]byte(Magic + "\ntrailer a: b\ntrailer a: b\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		q, err := ParsePayload(in)
		if err != nil {
			return
		}
		out, err := q.Encode()
		if err != nil {
			t.Fatalf("parsed payload does not encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("not canonical:\n%q\n%q", in, out)
		}
	})
}

// FuzzCheck feeds arbitrary messages (and so arbitrary attestation
// trailers) to the verifier: it must classify, never panic, and never say
// ok for anything the trusted key did not sign for this tree.
func FuzzCheck(f *testing.F) {
	s, _, kr := keys(f)
	good := message(f, s, payload())
	f.Add(good, tree1)
	f.Add(legacyMessage(f, s, payload()), tree1)
	f.Add([]byte("x\n\nRapido-Attest: QUFB.QUFB\nTested-by: x\n"), tree1)
	f.Add([]byte("x\n\nRapido-Attest: \n  .\n"), tree2)
	v := &Verifier{Keys: kr}
	f.Fuzz(func(t *testing.T, msg []byte, tree string) {
		for _, r := range v.Check(msg, tree) {
			if r.Status == "" {
				t.Fatal("empty status")
			}
			if r.Status == OK && (r.Payload == nil || r.Payload.Tree != tree || r.Payload.Signer != s.Fingerprint()) {
				t.Fatalf("ok for %+v", r)
			}
		}
	})
}

// FuzzDecodeValue: decoding never panics and round-trips what it accepts.
func FuzzDecodeValue(f *testing.F) {
	f.Add("QUFB.QUFB")
	f.Add(Fold(Key, "QUFB.QUFB"))
	f.Add("....")
	f.Fuzz(func(t *testing.T, v string) {
		p, s, err := DecodeValue(v)
		if err != nil {
			return
		}
		if p2, s2, err := DecodeValue(Fold(Key, EncodeValue(p, s))); err != nil || !bytes.Equal(p, p2) || !bytes.Equal(s, s2) {
			t.Fatalf("round trip of %q failed: %v", v, err)
		}
	})
}

// FuzzDecodeCompact: the compact decoder never panics, and what it accepts
// re-encodes to the same value (blanks aside): the format is canonical.
func FuzzDecodeCompact(f *testing.F) {
	s, _, _ := keys(f)
	good, _ := s.Sign(payload())
	f.Add(good)
	f.Add(Fold(Key, good))
	f.Add("AgAB")
	f.Add("Ag8B" + strings.Repeat("A", 200))
	f.Fuzz(func(t *testing.T, v string) {
		p, sig, err := decodeCompact(v)
		if err != nil {
			return
		}
		out, err := encodeCompact(p, sig)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v (%+v)", err, p)
		}
		if out != stripBlanks(v) {
			t.Fatalf("not canonical:\n%q\n%q", v, out)
		}
	})
}
