package attest

import (
	"bytes"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/git-rapido/git-rapido/trailers"
)

const (
	tree1  = "0db01086610e473e9a71f3c58c11ac9a4043c334"
	tree2  = "1111111111111111111111111111111111111111"
	patch1 = "6b5f1d3c0f6e1c1b0ed1c3b3d2b9d5e9a9a1b2c3"
	patch2 = "2222222222222222222222222222222222222222"
)

var (
	keysOnce      sync.Once
	trusted, evil *Signer
	trustedPub    []byte
)

func keys(t testing.TB) (*Signer, *Signer, *Keyring) {
	t.Helper()
	keysOnce.Do(func() {
		now := time.Unix(1700000000, 0)
		var err error
		if trusted, err = GenerateKey(&bytes.Buffer{}, "T Ester", "tester@example.org", nil, now); err != nil {
			panic(err)
		}
		if evil, err = GenerateKey(&bytes.Buffer{}, "T Ester", "tester@example.org", nil, now); err != nil {
			panic(err)
		}
		var b bytes.Buffer
		if err := trusted.WritePublic(&b); err != nil {
			panic(err)
		}
		trustedPub = b.Bytes()
	})
	kr := &Keyring{}
	if err := kr.Add(bytes.NewReader(trustedPub), "test"); err != nil {
		t.Fatal(err)
	}
	return trusted, evil, kr
}

func payload() *Payload {
	return &Payload{TrailerKey: "Tested-by", TrailerValue: "T Ester <tester@example.org>", Verdict: "pass",
		Tree: tree1, PatchID: patch1, Spec: "3f2a9c0011223344", Kernel: "6.1.0-fake", Time: time.Unix(1700000100, 0).UTC()}
}

// message builds a commit message with the verdict trailer and its
// attestation, folded as git rapido writes it.
func message(t testing.TB, s *Signer, p *Payload) []byte {
	t.Helper()
	v, err := s.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	return withAttestation(t, p, v)
}

func check(t *testing.T, kr *Keyring, msg []byte, tree string) []Result {
	t.Helper()
	return (&Verifier{Keys: kr}).Check(msg, tree)
}

func one(t *testing.T, rs []Result, want Status, reason string) Result {
	t.Helper()
	if len(rs) == 0 {
		t.Fatalf("no results, want %s", want)
	}
	r := rs[0]
	if r.Status != want {
		t.Fatalf("status %s (%s), want %s", r.Status, r.Reason, want)
	}
	if reason != "" && !strings.Contains(r.Reason, reason) {
		t.Fatalf("reason %q does not mention %q", r.Reason, reason)
	}
	return r
}

func TestPayloadRoundTrip(t *testing.T) {
	p := payload()
	p.Format = 1
	p.Signer = "0123456789ABCDEF0123456789ABCDEF01234567"
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := "rapido-attest 1\ntrailer Tested-by: T Ester <tester@example.org>\nverdict pass\ntree " + tree1 +
		"\npatch-id " + patch1 + "\nspec 3f2a9c0011223344\nkernel 6.1.0-fake\ntime 2023-11-14T22:15:00Z\nsigner 0123456789ABCDEF0123456789ABCDEF01234567\n"
	if string(b) != want {
		t.Fatalf("encoded:\n%s\nwant:\n%s", b, want)
	}
	q, err := ParsePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if *q != *p {
		t.Fatalf("parsed %+v, want %+v", q, p)
	}
}

func TestParsePayloadRefusesNonCanonical(t *testing.T) {
	p := payload()
	p.Signer = "0123456789ABCDEF0123456789ABCDEF01234567"
	b, _ := p.Encode()
	good := string(b)
	for name, tc := range map[string]struct{ in, err string }{
		"duplicated field": {strings.Replace(good, "verdict pass\n", "verdict pass\nverdict pass\n", 1), `duplicated field "verdict"`},
		"duplicated tree":  {strings.Replace(good, "spec 3f2a9c0011223344\n", "tree "+tree2+"\n", 1), `duplicated field "tree"`},
		"reordered":        {strings.Replace(good, "verdict pass\ntree "+tree1+"\n", "tree "+tree1+"\nverdict pass\n", 1), "out of order"},
		"unknown":          {strings.Replace(good, "spec ", "spek ", 1), `unknown field "spek"`},
		"missing":          {strings.Replace(good, "signer 0123456789ABCDEF0123456789ABCDEF01234567\n", "", 1), `missing field "signer"`},
		"extra":            {good + "extra x\n", "unexpected field"},
		"no newline":       {strings.TrimSuffix(good, "\n"), "newline"},
		"magic":            {strings.Replace(good, "rapido-attest 1", "rapido-attest 2", 1), "does not start"},
		"blank value":      {strings.Replace(good, "verdict pass", "verdict  pass", 1), "blanks"},
		"control":          {strings.Replace(good, "kernel 6.1.0-fake", "kernel 6.1\x1b", 1), "control"},
		"tree":             {strings.Replace(good, tree1, "xyz", 1), "bad tree"},
		"time":             {strings.Replace(good, "2023-11-14T22:15:00Z", "2023-11-14T23:15:00+01:00", 1), "bad time"},
		"signer lower":     {strings.Replace(good, "ABCDEF0123", "abcdef0123", 1), "bad signer"},
		"huge":             {good + strings.Repeat("x", MaxPayload), "too large"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePayload([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}

func TestFoldWidthAndUnfold(t *testing.T) {
	v := strings.Repeat("ABCDEFGHIJ", 50)
	f := Fold(Key, v)
	lines := strings.Split(Key+": "+f, "\n")
	if len(lines) < 6 {
		t.Fatalf("only %d lines", len(lines))
	}
	for _, l := range lines {
		if len(l) > Width {
			t.Fatalf("line of %d columns: %q", len(l), l)
		}
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, " ") || strings.HasPrefix(l, "  ") {
			t.Fatalf("continuation line %q", l)
		}
	}
	if got := strings.ReplaceAll(strings.ReplaceAll(f, "\n", ""), " ", ""); got != v {
		t.Fatal("folding lost characters")
	}
	if Fold(Key, "short") != "short" {
		t.Fatal("a short value was folded")
	}
}

func TestVerifyOK(t *testing.T) {
	s, _, kr := keys(t)
	msg := message(t, s, payload())
	rs := check(t, kr, msg, tree1)
	if len(rs) != 1 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	r := one(t, rs, OK, "")
	if r.Trailer != "Tested-by: T Ester <tester@example.org>" || r.Signer != "T Ester <tester@example.org>" {
		t.Fatalf("%+v", r)
	}
	// Every line of the message fits in 78 columns.
	for _, l := range strings.Split(string(msg), "\n") {
		if len(l) > Width {
			t.Fatalf("line of %d columns", len(l))
		}
	}
}

func TestVerifySurvivesUnfoldAndReorder(t *testing.T) {
	s, _, kr := keys(t)
	msg := message(t, s, payload())
	unfolded, err := trailers.Process(msg, trailers.Options{Unfold: true}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(unfolded, msg) {
		t.Fatal("unfold changed nothing: test is not testing")
	}
	one(t, check(t, kr, unfolded, tree1), OK, "")

	// b4 moves Signed-off-by to the bottom and others add trailers.
	block := trailers.Parse(msg, nil)
	var lines []string
	for _, l := range block.Lines {
		lines = append(lines, l.Raw)
	}
	reordered := string(msg[:block.Start]) + strings.Join(lines[1:], "\n") + "\nLink: https://example.org/x\n" + lines[0] + "\n"
	one(t, check(t, kr, []byte(reordered), tree1), OK, "")
}

func TestVerifySecurityCases(t *testing.T) {
	s, e, kr := keys(t)
	good := string(legacyMessage(t, s, payload()))
	block := trailers.Parse([]byte(good), nil)
	var attestRaw string
	for _, l := range block.Lines {
		if l.Key == Key {
			attestRaw = l.Raw
		}
	}

	t.Run("tampered trailer value", func(t *testing.T) {
		msg := strings.Replace(good, "Tested-by: T Ester", "Tested-by: M Allory", 1)
		rs := check(t, kr, []byte(msg), tree1)
		one(t, rs, BadSignature, "is not in the message")
		if len(rs) != 2 || rs[1].Status != Unsigned || rs[1].Trailer != "Tested-by: M Allory <tester@example.org>" {
			t.Fatalf("the tampered trailer is not reported unsigned: %+v", rs)
		}
	})
	t.Run("tampered tree", func(t *testing.T) {
		rs := check(t, kr, []byte(good), tree2)
		one(t, rs, Stale, "code changed")
		Resolve(&rs[0], patch2)
		one(t, rs, Stale, "")
	})
	t.Run("rebased", func(t *testing.T) {
		rs := check(t, kr, []byte(good), tree2)
		Resolve(&rs[0], patch1)
		one(t, rs, Rebased, "another base")
	})
	t.Run("copied onto another commit", func(t *testing.T) {
		other := "other: commit\n\nSigned-off-by: X <x@example.org>\nTested-by: T Ester <tester@example.org>\n" + attestRaw + "\n"
		rs := check(t, kr, []byte(other), tree2)
		one(t, rs, Stale, "tested tree "+tree1[:12])
		Resolve(&rs[0], patch2)
		one(t, rs, Stale, "")
	})
	t.Run("untrusted key", func(t *testing.T) {
		rs := check(t, kr, legacyMessage(t, e, payload()), tree1)
		one(t, rs, UnknownKey, "not a trusted key")
		one(t, check(t, nil, []byte(good), tree1), UnknownKey, "")
	})
	t.Run("payload edited, signature kept", func(t *testing.T) {
		v := strings.Join(strings.Fields(strings.TrimPrefix(attestRaw, Key+":")), "")
		pb, sig, err := DecodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		forged := strings.Replace(string(pb), "verdict pass", "verdict PASS", 1)
		msg := strings.Replace(good, attestRaw, Key+": "+Fold(Key, EncodeValue([]byte(forged), sig)), 1)
		one(t, check(t, kr, []byte(msg), tree1), BadSignature, "does not verify")
	})
	t.Run("signer field lies", func(t *testing.T) {
		// The trusted key signs a payload that names another signer.
		p := payload()
		p.Signer = e.Fingerprint()
		pb, _ := p.Encode()
		var sig bytes.Buffer
		if err := openpgp.DetachSign(&sig, s.e, bytes.NewReader(pb), nil); err != nil {
			t.Fatal(err)
		}
		msg := strings.Replace(good, attestRaw, Key+": "+Fold(Key, EncodeValue(pb, sig.Bytes())), 1)
		one(t, check(t, kr, []byte(msg), tree1), BadSignature, "payload names signer")
	})
	t.Run("truncated base64", func(t *testing.T) {
		msg := good[:strings.LastIndex(good, "\n ")] + "\n"
		one(t, check(t, kr, []byte(msg), tree1), Malformed, "")
	})
	t.Run("garbled base64", func(t *testing.T) {
		msg := strings.Replace(good, Key+": ", Key+": %%", 1)
		one(t, check(t, kr, []byte(msg), tree1), Malformed, "bad base64")
	})
	t.Run("no signature", func(t *testing.T) {
		msg := strings.Replace(good, attestRaw, Key+": "+base64.StdEncoding.EncodeToString([]byte("x")), 1)
		// Without a '.', it is read as a compact value, and is no such.
		one(t, check(t, kr, []byte(msg), tree1), Malformed, "attestation")
	})
	t.Run("signature is not a signature", func(t *testing.T) {
		v := strings.Join(strings.Fields(strings.TrimPrefix(attestRaw, Key+":")), "")
		pb, _, _ := DecodeValue(v)
		msg := strings.Replace(good, attestRaw, Key+": "+Fold(Key, EncodeValue(pb, []byte{0x99, 0x01, 0x02})), 1)
		one(t, check(t, kr, []byte(msg), tree1), Malformed, "signature")
	})
	t.Run("duplicated fields", func(t *testing.T) {
		p := payload()
		p.Signer = s.Fingerprint()
		pb, _ := p.Encode()
		dup := strings.Replace(string(pb), "tree ", "tree "+tree2+"\ntree ", 1)
		_, sig, _ := DecodeValue(signV1(t, s, payload()))
		msg := strings.Replace(good, attestRaw, Key+": "+Fold(Key, EncodeValue([]byte(dup), sig)), 1)
		one(t, check(t, kr, []byte(msg), tree1), Malformed, `duplicated field "tree"`)
	})
	t.Run("huge folded trailer", func(t *testing.T) {
		huge := Key + ": " + Fold(Key, strings.Repeat("QUFB", 100000)+".QUFB")
		msg := strings.Replace(good, attestRaw, huge, 1)
		one(t, check(t, kr, []byte(msg), tree1), Malformed, "too large")
	})
	t.Run("unsigned", func(t *testing.T) {
		msg := "x: y\n\nSigned-off-by: A <a@b>\nReviewed-by: R <r@x>\n"
		rs := check(t, kr, []byte(msg), tree1)
		one(t, rs, Unsigned, "")
		if len(rs) != 1 {
			t.Fatalf("Signed-off-by counted as a verdict: %+v", rs)
		}
	})
}

func TestRetestSupersedesStale(t *testing.T) {
	s, _, kr := keys(t)
	old := payload()
	old.Tree = tree2
	msg := message(t, s, old)
	fresh := payload()
	fresh.Time = fresh.Time.Add(time.Hour)
	v, _ := s.Sign(fresh)
	msg, _ = trailers.Add(msg, nil, Key, Fold(Key, v), nil)
	rs := check(t, kr, msg, tree1)
	if len(rs) != 1 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	one(t, rs, OK, "")
	// Without the fresh one, the verdict is stale.
	one(t, check(t, kr, message(t, s, old), tree1), Stale, "")
}

func TestExportMatchesValue(t *testing.T) {
	s, _, kr := keys(t)
	for name, tc := range map[string]struct {
		msg   []byte
		magic string
	}{
		"compact": {message(t, s, payload()), Magic2},
		"legacy":  {legacyMessage(t, s, payload()), Magic},
	} {
		t.Run(name, func(t *testing.T) {
			for _, v := range []*Verifier{{Keys: kr}, {}} {
				ex, err := v.Export(tc.msg)
				if err != nil || len(ex) != 1 {
					t.Fatalf("export: %d, %v", len(ex), err)
				}
				pb, asc := ex[0].Payload, ex[0].Signature
				if !bytes.HasPrefix(pb, []byte(tc.magic+"\ntrailer Tested-by: T Ester <tester@example.org>\n")) ||
					!bytes.HasPrefix(asc, []byte("-----BEGIN PGP SIGNATURE-----")) {
					t.Fatalf("export:\n%s\n%s", pb, asc)
				}
				block, err := armor.Decode(bytes.NewReader(asc))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := openpgp.CheckDetachedSignature(kr.el, bytes.NewReader(pb), block.Body, nil); err != nil {
					t.Fatalf("exported signature does not verify: %v", err)
				}
			}
		})
	}
}

func TestReadSignerPassphrase(t *testing.T) {
	var sec bytes.Buffer
	g, err := GenerateKey(&sec, "P W", "pw@example.org", []byte("sekrit"), time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSigner(bytes.NewReader(sec.Bytes()), nil); err == nil {
		t.Fatal("protected key read without a passphrase")
	}
	if _, err := ReadSigner(bytes.NewReader(sec.Bytes()), func() ([]byte, error) { return []byte("wrong"), nil }); err == nil {
		t.Fatal("wrong passphrase accepted")
	}
	s, err := ReadSigner(bytes.NewReader(sec.Bytes()), func() ([]byte, error) { return []byte("sekrit"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if s.Fingerprint() != g.Fingerprint() || s.Identity() != "P W <pw@example.org>" {
		t.Fatalf("read back %s %q, want %s", s.Fingerprint(), s.Identity(), g.Fingerprint())
	}
	var pub, exported bytes.Buffer
	s.WritePublic(&pub)
	if err := ExportPublic(&exported, bytes.NewReader(sec.Bytes())); err != nil {
		t.Fatalf("export without the passphrase: %v", err)
	}
	if !bytes.Equal(exported.Bytes(), pub.Bytes()) {
		t.Fatal("ExportPublic and WritePublic differ")
	}
	if _, err := ReadSigner(&pub, nil); err == nil {
		t.Fatal("a public key was accepted as a signing key")
	}
}
