package attest

import (
	"bytes"
	"crypto"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/git-rapido/git-rapido/trailers"
)

const (
	tree256  = "0db01086610e473e9a71f3c58c11ac9a4043c3340db01086610e473e9a71f3c5"
	patch256 = "6b5f1d3c0f6e1c1b0ed1c3b3d2b9d5e9a9a1b2c36b5f1d3c0f6e1c1b0ed1c3b3"
)

// attestLines returns the lines of the attestation trailer in msg.
func attestLines(t *testing.T, msg []byte) []string {
	t.Helper()
	for _, l := range trailers.Parse(msg, nil).Lines {
		if l.Key == Key {
			return strings.Split(l.Raw, "\n")
		}
	}
	t.Fatal("no attestation trailer")
	return nil
}

func TestCompactFitsInFourLines(t *testing.T) {
	s, _, kr := keys(t)
	worst := payload()
	worst.Tree, worst.PatchID = tree256, patch256
	worst.Kernel = strings.Repeat("k", MaxKernel)
	review := payload()
	review.Verdict, review.Spec, review.Kernel, review.TrailerKey = "reviewed", None, None, "Reviewed-by"
	for name, p := range map[string]*Payload{"typical": payload(), "worst (SHA-256, long kernel)": worst, "review": review} {
		t.Run(name, func(t *testing.T) {
			msg := message(t, s, p)
			lines := attestLines(t, msg)
			if len(lines) > MaxLines {
				t.Fatalf("%d lines:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			for _, l := range lines {
				if len(l) > Width {
					t.Fatalf("line of %d columns: %q", len(l), l)
				}
			}
			one(t, check(t, kr, msg, p.Tree), OK, "")
		})
	}
}

func TestCompactCarriesNoTimeNorSigner(t *testing.T) {
	s, _, kr := keys(t)
	p := payload()
	msg := message(t, s, p)
	r := one(t, check(t, kr, msg, tree1), OK, "")
	// Time and signer come back from the signature packet.
	if r.Payload.Format != 2 || !r.Payload.Time.Equal(p.Time) || r.Payload.Signer != s.Fingerprint() {
		t.Fatalf("payload %+v", r.Payload)
	}
	if r.Payload.Spec != p.Spec || r.Payload.Kernel != p.Kernel || r.Payload.PatchID != patch1 || r.Payload.Verdict != "pass" {
		t.Fatalf("payload %+v", r.Payload)
	}
	b, _ := r.Payload.EncodeSigned()
	if bytes.Contains(b, []byte("time ")) || bytes.Contains(b, []byte("signer ")) {
		t.Fatalf("signed bytes carry time or signer:\n%s", b)
	}
}

func TestCompactStaleRebasedUnknown(t *testing.T) {
	s, e, kr := keys(t)
	msg := message(t, s, payload())
	rs := check(t, kr, msg, tree2)
	one(t, rs, Stale, "code changed")
	Resolve(&rs[0], patch1)
	one(t, rs, Rebased, "another base")
	one(t, check(t, kr, message(t, e, payload()), tree1), UnknownKey, "not a trusted key")
	// An edited verdict trailer: the signature no longer verifies for it.
	edited := bytes.Replace(msg, []byte("Tested-by: T Ester"), []byte("Tested-by: M Allory"), 1)
	one(t, check(t, kr, edited, tree1), BadSignature, "does not verify for any trailer")
	// A truncated value.
	lines := attestLines(t, msg)
	cut := bytes.Replace(msg, []byte(lines[len(lines)-1]+"\n"), nil, 1)
	one(t, check(t, kr, cut, tree1), Malformed, "")
}

// forge returns a compact value that claims p but whose signature is over
// other bytes (here: the same payload with another verdict).
func forge(t *testing.T, s *Signer, p *Payload) string {
	t.Helper()
	other := *p
	other.Verdict = "acked"
	good, err := s.Sign(&other)
	if err != nil {
		t.Fatal(err)
	}
	_, sig, err := decodeCompact(good)
	if err != nil {
		t.Fatal(err)
	}
	q := *p
	v, err := encodeCompact(&q, sig)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestForgedNextToValidIsShown(t *testing.T) {
	s, _, kr := keys(t)
	for name, msg := range map[string][]byte{"compact": message(t, s, payload()), "legacy": legacyMessage(t, s, payload())} {
		t.Run(name, func(t *testing.T) {
			for _, order := range []string{"forged after", "forged before"} {
				forged := []byte(Key + ": " + Fold(Key, forge(t, s, payload())) + "\n")
				var m []byte
				if order == "forged after" {
					m = append(append([]byte{}, msg...), forged...)
				} else {
					i := bytes.Index(msg, []byte(Key+": "))
					m = append(append(append([]byte{}, msg[:i]...), forged...), msg[i:]...)
				}
				rs := check(t, kr, m, tree1)
				var st []Status
				for _, r := range rs {
					st = append(st, r.Status)
				}
				if len(rs) != 2 || !((st[0] == OK && st[1] == BadSignature) || (st[0] == BadSignature && st[1] == OK)) {
					t.Fatalf("%s: statuses %v, want ok and bad-signature: %+v", order, st, rs)
				}
			}
		})
	}
}

// signWith signs b with an explicit hash, as an old or careless tool would.
func signWith(t *testing.T, s *Signer, b []byte, h crypto.Hash, p *Payload) []byte {
	t.Helper()
	key, _ := s.e.SigningKey(p.Time)
	sig := &packet.Signature{Version: 4, SigType: packet.SigTypeBinary, PubKeyAlgo: key.PublicKey.PubKeyAlgo,
		Hash: h, CreationTime: p.Time, IssuerKeyVersion: 4, IssuerFingerprint: key.PublicKey.Fingerprint}
	off := false
	cfg := &packet.Config{DefaultHash: h, NonDeterministicSignaturesViaNotation: &off}
	hh, err := sig.PrepareSign(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hh.Write(b)
	if err := sig.Sign(hh, key.PrivateKey, cfg); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := sig.Serialize(&out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestSHA1SignatureRefused(t *testing.T) {
	s, _, kr := keys(t)
	p := payload()
	p.Format, p.Signer = 2, s.Fingerprint()
	b, _ := p.EncodeSigned()
	// The same bytes signed with SHA-256 verify: the test is testing.
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA1} {
		v, err := encodeCompact(p, signWith(t, s, b, h, p))
		if err != nil {
			t.Fatal(err)
		}
		rs := check(t, kr, withAttestation(t, p, v), tree1)
		if h == crypto.SHA256 {
			one(t, rs, OK, "")
			continue
		}
		one(t, rs, BadSignature, "SHA-1")
	}
	// The legacy format too.
	q := payload()
	q.Signer = s.Fingerprint()
	lb, _ := q.Encode()
	one(t, check(t, kr, withAttestation(t, q, EncodeValue(lb, signWith(t, s, lb, crypto.SHA1, q))), tree1), BadSignature, "SHA-1")
}

func TestCompactRefusesNonCanonical(t *testing.T) {
	s, _, _ := keys(t)
	good, _ := s.Sign(payload())
	_, sig, err := decodeCompact(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]func(*Payload){
		"verdict": func(p *Payload) { p.Verdict = "maybe" },
		"spec":    func(p *Payload) { p.Spec = "3F2A9C0011223344" },
		"kernel":  func(p *Payload) { p.Kernel = strings.Repeat("k", MaxKernel+1) },
		"patch":   func(p *Payload) { p.PatchID = patch256 },
	} {
		q := payload()
		p(q)
		if _, err := encodeCompact(q, sig); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	for _, bad := range []string{"", "AA", "Ag", good + "=", strings.Replace(good, good[:2], "Aw", 1)} {
		if _, _, err := decodeCompact(bad); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

func TestShortSpecAndKernel(t *testing.T) {
	if got := ShortSpec("712cbb9245537a1896fc6a061d8783476a7c37f6f10ebfd2c09d916964b03da2"); got != "712cbb9245537a18" {
		t.Errorf("ShortSpec = %q", got)
	}
	for _, bad := range []string{"", "712cbb", "712CBB9245537A1896", "zz2cbb9245537a1896"} {
		if got := ShortSpec(bad); got != "" {
			t.Errorf("ShortSpec(%q) = %q, want none", bad, got)
		}
	}
	long := strings.Repeat("a", MaxKernel-1) + "\u00e9xyz"
	k := ShortKernel(long)
	if len(k) > MaxKernel || !utf8.ValidString(k) || k != strings.Repeat("a", MaxKernel-1) {
		t.Errorf("ShortKernel = %q", k)
	}
	if ShortKernel("6.1.0") != "6.1.0" {
		t.Error("a short release was cut")
	}
}

// TestCheckBudget: a message stuffed with copies of a genuine attestation
// behind many trailers costs at most MaxChecks signature checks; the rest
// is reported, not checked.
func TestCheckBudget(t *testing.T) {
	s, _, kr := keys(t)
	msg := message(t, s, payload())
	lines := attestLines(t, msg)
	var b bytes.Buffer
	b.WriteString("subsys: fix\n\n")
	for i := 0; i < 200; i++ {
		if i == 100 {
			b.WriteString("Tested-by: T Ester <tester@example.org>\n")
		}
		fmt.Fprintf(&b, "X-Note-%d: n\n", i)
	}
	for i := 0; i < 20; i++ {
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	start := time.Now()
	v := &Verifier{Keys: kr}
	rs := v.Check(b.Bytes(), tree1)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	var ok, capped int
	for _, r := range rs {
		switch {
		case r.Status == OK:
			ok++
		case r.Status == Malformed && strings.Contains(r.Reason, "signature checks"):
			capped++
		}
	}
	if ok != 1 || capped == 0 {
		t.Fatalf("ok %d, capped %d: %+v", ok, capped, rs)
	}
	// The budget is per message: the genuine one alone still verifies.
	one(t, v.Check(msg, tree1), OK, "")
}
