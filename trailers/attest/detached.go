package attest

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Plain detached signatures over arbitrary bytes, for data that is not a
// trailer (the verdict cache signs its entries with them). They share the
// keys and the checks of attestations, not the trailer format.

// SignDetached returns a binary OpenPGP signature packet over data, made
// at t.
func (s *Signer) SignDetached(data []byte, t time.Time) ([]byte, error) {
	var sig bytes.Buffer
	cfg := &packet.Config{Time: func() time.Time { return t }, DefaultHash: crypto.SHA256}
	if err := openpgp.DetachSign(&sig, s.e, bytes.NewReader(data), cfg); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig.Bytes(), nil
}

// ErrUntrustedKey means a signature is by a key that is not in the keyring.
var ErrUntrustedKey = errors.New("signed by a key that is not trusted")

// VerifyDetached checks a signature made by SignDetached against the
// keyring and returns the signer's user id (or fingerprint).
func (k *Keyring) VerifyDetached(data, sig []byte) (string, error) {
	pr := packet.NewReader(bytes.NewReader(sig))
	pkt, err := pr.Next()
	if err != nil {
		return "", fmt.Errorf("signature: %w", err)
	}
	sp, ok := pkt.(*packet.Signature)
	if !ok || sp.SigType != packet.SigTypeBinary {
		return "", errors.New("signature: not a binary OpenPGP signature")
	}
	if _, err := pr.Next(); err != io.EOF {
		return "", errors.New("signature: more than one packet")
	}
	if name, weak := weakHashes[sp.Hash]; weak {
		return "", fmt.Errorf("signature: %s is too weak a hash", name)
	}
	var el openpgp.EntityList
	if k != nil {
		el = k.el
	}
	_, e, err := openpgp.VerifyDetachedSignature(el, bytes.NewReader(data), bytes.NewReader(sig), nil)
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		return "", fmt.Errorf("%w (%s)", ErrUntrustedKey, issuer(sp))
	}
	if err != nil {
		return "", fmt.Errorf("signature by %s does not verify: %w", issuer(sp), err)
	}
	if pi := e.PrimaryIdentity(); pi != nil {
		return pi.Name, nil
	}
	return fingerprint(e), nil
}
