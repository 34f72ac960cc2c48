package attest

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/git-rapido/git-rapido/trailers"
)

// signV1 signs p in the "rapido-attest 1" format exactly as git rapido did
// before the compact format, so that verify is shown to keep reading it.
func signV1(t testing.TB, s *Signer, p *Payload) string {
	t.Helper()
	p.Signer = s.Fingerprint()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var sig bytes.Buffer
	cfg := &packet.Config{Time: func() time.Time { return p.Time }}
	if err := openpgp.DetachSign(&sig, s.e, bytes.NewReader(b), cfg); err != nil {
		t.Fatal(err)
	}
	return EncodeValue(b, sig.Bytes())
}

// legacyMessage is message with a "rapido-attest 1" attestation.
func legacyMessage(t testing.TB, s *Signer, p *Payload) []byte {
	t.Helper()
	return withAttestation(t, p, signV1(t, s, p))
}

func withAttestation(t testing.TB, p *Payload, v string) []byte {
	t.Helper()
	msg := []byte("subsys: fix\n\nBody.\n\nSigned-off-by: A U Thor <author@example.com>\n")
	msg, err := trailers.Add(msg, nil, p.TrailerKey, p.TrailerValue, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err = trailers.Add(msg, nil, Key, Fold(Key, v), nil)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
